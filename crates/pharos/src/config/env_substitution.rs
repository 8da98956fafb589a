//! `${ENV_VAR}` in `pharos.yaml`, replaced before parsing and on the same line, so errors
//! after substitution still point at the line the user wrote.

use std::path::Path;

use super::ConfigError;

/// Replaces `${NAME}` with the environment variable's value; `$${` stays a literal `${`,
/// and a regex group reference `${1}` stays as written. An unset variable is an error at
/// its position, so a missing secret is never sent empty.
pub(super) fn substitute_env(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        // Comment lines may mention ${VAR} in prose; only values are expanded.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut col = 1;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            if let Some(escaped) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = escaped;
                col += i + 3;
                continue;
            }
            if let Some(body) = after.strip_prefix("${") {
                let Some(end) = body.find('}') else {
                    return Err(env_error(
                        path,
                        line_no,
                        col + i,
                        "unclosed ${ ... }".into(),
                    ));
                };
                let name = &body[..end];
                // `${1}` is a regex group in a relabel `replacement`, as in nearly every
                // Kubernetes scrape config: Prometheus's syntax, kept as written (an
                // environment variable's name never starts with a digit).
                if name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_digit())
                {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                    rest = &body[end + 1..];
                    col += i + 3 + end;
                    continue;
                }
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(env_error(
                        path,
                        line_no,
                        col + i,
                        format!("${{{name}}} is not an environment variable name"),
                    ));
                }
                match env(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        return Err(env_error(
                            path,
                            line_no,
                            col + i,
                            format!("environment variable {name} is not set"),
                        ));
                    }
                }
                rest = &body[end + 1..];
                col += i + 3 + end;
            } else {
                out.push('$');
                rest = &after[1..];
                col += i + 1;
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn env_error(path: &Path, line_no: usize, column: usize, message: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: Some(line_no + 1),
        column: Some(column),
        field: None,
        message,
    }
}
