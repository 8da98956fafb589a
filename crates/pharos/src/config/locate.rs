//! Where a field is in the file: serde's path to a value (`monitors[2].http.timeout`)
//! turned back into a line and column, for errors raised after the value was read.

/// The 1-based line and column of the key at `path` (`monitors[2].http.timeout`) in a
/// block-style YAML document; `None` where the document is written otherwise.
pub(super) fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // A `- key: value` line holds the first key of its item after the dash.
    let content = |i: usize, item_line: Option<usize>| -> Option<(usize, &str)> {
        let l = lines[i];
        let body = l.trim_start();
        if body.is_empty() || body.starts_with('#') {
            return None;
        }
        let lead = l.len() - body.len();
        match (item_line == Some(i), body.strip_prefix("- ")) {
            (true, Some(rest)) => Some((
                lead + 2 + (rest.len() - rest.trim_start().len()),
                rest.trim_start(),
            )),
            _ => Some((lead, body)),
        }
    };
    let mut item_line: Option<usize> = None;
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let mut indent = None;
        let mut hit = None;
        for i in start..lines.len() {
            let Some((lead, body)) = content(i, item_line) else {
                continue;
            };
            let block_indent = match indent {
                Some(x) => x,
                None => {
                    if parent_indent.is_some_and(|p| lead <= p) {
                        break;
                    }
                    *indent.insert(lead)
                }
            };
            if lead < block_indent {
                break;
            }
            if lead == block_indent
                && body
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            {
                hit = Some((i, lead));
                break;
            }
        }
        let (i, lead) = hit?;
        found = Some((i + 1, lead + 1));
        parent_indent = Some(lead);
        start = i + 1;
        item_line = None;
        if let Some(n) = index {
            let mut seen = 0;
            let mut item_indent = None;
            let mut hit = None;
            for j in start..lines.len() {
                let Some((lead_j, body)) = content(j, None) else {
                    continue;
                };
                let ii = *item_indent.get_or_insert(lead_j);
                if lead_j < ii || (lead_j == ii && !body.starts_with("- ")) {
                    break;
                }
                if lead_j == ii {
                    if seen == n {
                        hit = Some((j, lead_j));
                        break;
                    }
                    seen += 1;
                }
            }
            let (j, lead_j) = hit?;
            found = Some((j + 1, lead_j + 1));
            parent_indent = Some(lead_j);
            start = j;
            item_line = Some(j);
        }
    }
    found
}
