//! Finding a field of a rule file in its text, so that every error names the line and
//! column of the field it is about (`groups[0].rules[2].expr`).

#[derive(Clone, Copy, Debug)]
pub(super) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// `groups[0].rules[2].expr` back into its parts.
pub(super) fn parse_field_path(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    if path == "." || path.is_empty() {
        return out;
    }
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(k) = pieces.next()
            && !k.is_empty()
        {
            out.push(Seg::Key(k));
        }
        for idx in pieces {
            match idx.trim_end_matches(']').parse() {
                Ok(i) => out.push(Seg::Index(i)),
                Err(_) => return out,
            }
        }
    }
    out
}

pub(super) fn field_path(segs: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The 1-based line and column of the deepest part of `segs` found in block-style YAML
/// (a field written in flow style, `{a: b}`, is placed at its enclosing key).
pub(super) fn locate(text: &str, segs: &[Seg<'_>]) -> Option<(usize, usize)> {
    // Content lines only: (line number, indent, text after the indent).
    let lines: Vec<(usize, usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(no, l)| {
            let body = l.trim_start();
            (!body.is_empty() && !body.starts_with('#')).then(|| (no, l.len() - body.len(), body))
        })
        .collect();
    // The mapping being searched: lines[lo..hi], keys at `indent`; when `item` is set,
    // the first line is `- key: …` and its key sits after the dash.
    let (mut lo, mut hi, mut indent, mut item) = (0usize, lines.len(), 0usize, false);
    if let Some(first) = lines.first() {
        indent = first.1;
    }
    let mut found = None;
    let mut i = 0;
    while i < segs.len() {
        let Seg::Key(key) = segs[i] else { return found };
        let view = |k: usize| -> (usize, &str) {
            let (_, ind, body) = lines[k];
            if item && k == lo {
                let rest = body.trim_start_matches('-');
                let rest_trim = rest.trim_start();
                (ind + (body.len() - rest_trim.len()), rest_trim)
            } else {
                (ind, body)
            }
        };
        let hit = (lo..hi).find(|&k| {
            let (ind, body) = view(k);
            ind == indent
                && (body
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
                    || body
                        .strip_prefix(&format!("\"{key}\""))
                        .is_some_and(|r| r.trim_start().starts_with(':')))
        })?;
        found = Some((lines[hit].0 + 1, view(hit).0 + 1));
        // The key's block: following lines indented deeper, or a sequence at its indent.
        let start = hit + 1;
        let mut end = start;
        while end < hi {
            let (_, ind, body) = lines[end];
            if ind < indent || (ind == indent && !body.starts_with("- ") && body != "-") {
                break;
            }
            end += 1;
        }
        if start >= end {
            return found;
        }
        i += 1;
        match segs.get(i) {
            Some(Seg::Index(n)) => {
                let dash = lines[start].1;
                let items: Vec<usize> = (start..end)
                    .filter(|&k| lines[k].1 == dash && lines[k].2.starts_with('-'))
                    .collect();
                let &j = items.get(*n)?;
                let item_end = items.get(n + 1).copied().unwrap_or(end);
                let body = lines[j].2;
                let rest = body.trim_start_matches('-').trim_start();
                found = Some((lines[j].0 + 1, dash + 1));
                lo = j;
                hi = item_end;
                indent = dash + (body.len() - rest.len());
                item = true;
                i += 1;
            }
            Some(Seg::Key(_)) => {
                lo = start;
                hi = end;
                indent = lines[start].1;
                item = false;
            }
            None => return found,
        }
    }
    found
}
