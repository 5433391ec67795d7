//! Kubernetes' `$(VAR)` expansion for env values, command and args.
//!
//! `$(NAME)` is replaced when NAME is defined earlier in the same container's env; unknown or forward
//! references stay verbatim; `$$` is an escaped `$`; `$NAME` without parentheses is left for a shell.

/// Expands `input` against `lookup`, exactly as the kubelet's `expansion.Expand` does.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            out.push_str(&input[copied..i]);
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                }
                b'(' => match input[i + 2..].find(')') {
                    Some(len) => {
                        let name = &input[i + 2..i + 2 + len];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => out.push_str(&input[i..i + 3 + len]),
                        }
                        i += 3 + len;
                    }
                    // An unterminated reference is literal text.
                    None => {
                        out.push_str(&input[i..]);
                        i = bytes.len();
                    }
                },
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&input[copied..]);
    out
}

/// Expands each env value against the variables defined before it, in order.
pub fn expand_env(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut done: Vec<(String, String)> = Vec::with_capacity(env.len());
    for (name, value) in env {
        let v = expand(value, |n| lookup(&done, n));
        // A later definition of the same name wins, as in the kubelet.
        done.retain(|(k, _)| k != name);
        done.push((name.clone(), v));
    }
    done
}

/// Looks a name up in an expanded env list.
pub fn lookup(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ex(s: &str) -> String {
        let vars = env(&[("A", "alpha"), ("B", "beta"), ("EMPTY", "")]);
        expand(s, |n| lookup(&vars, n))
    }

    #[test]
    fn references_are_replaced() {
        assert_eq!(ex("$(A)"), "alpha");
        assert_eq!(ex("x-$(A)-$(B)-y"), "x-alpha-beta-y");
        assert_eq!(ex("[$(EMPTY)]"), "[]");
    }

    #[test]
    fn unknown_references_stay_verbatim() {
        assert_eq!(ex("$(NOPE)"), "$(NOPE)");
        assert_eq!(ex("a $(NOPE) b $(A)"), "a $(NOPE) b alpha");
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(ex("$$(A)"), "$(A)");
        assert_eq!(ex("$$$(A)"), "$alpha");
        assert_eq!(ex("cost: $$5"), "cost: $5");
    }

    #[test]
    fn shell_syntax_is_left_alone() {
        assert_eq!(ex("$A ${A} $"), "$A ${A} $");
        assert_eq!(ex("echo $HOME"), "echo $HOME");
        assert_eq!(ex("$(A"), "$(A");
        assert_eq!(ex("héllo $(A) wörld"), "héllo alpha wörld");
    }

    #[test]
    fn env_sees_only_earlier_variables() {
        let out = expand_env(&env(&[
            ("FIRST", "1"),
            ("SECOND", "$(FIRST)-2-$(THIRD)"),
            ("THIRD", "3"),
        ]));
        assert_eq!(lookup(&out, "SECOND").as_deref(), Some("1-2-$(THIRD)"));
    }
}
