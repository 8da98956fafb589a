//! Message words exactly as tantivy's `default` tokenizer cuts them (split on anything not
//! alphanumeric, drop tokens of 40 bytes or more, lower-case), so a phrase matched in
//! memory and one matched in the index agree, positions included.

/// `(position, token)` pairs; positions count dropped long tokens too, as the index does.
pub(crate) fn message_tokens(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut position = 0usize;
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        if word.len() < MAX_TOKEN_BYTES {
            out.push((position, word.to_lowercase()));
        }
        position += 1;
    }
    out
}

/// tantivy's `RemoveLongFilter::limit(40)` in the default tokenizer.
const MAX_TOKEN_BYTES: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_like_the_default_tokenizer() {
        let t: Vec<String> = message_tokens("Timeout: POST /api/orders-42 (Ünïcode)")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(t, ["timeout", "post", "api", "orders", "42", "ünïcode"]);
        let long = "x".repeat(40);
        let t = message_tokens(&format!("a {long} b"));
        assert_eq!(t, [(0, "a".to_string()), (2, "b".to_string())]);
    }
}
