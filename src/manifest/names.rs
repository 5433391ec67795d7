//! The API server's name formats. Each check returns why a name is invalid, phrased like
//! Kubernetes' own messages, or `None` when it is fine.

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label: container, namespace and volume names.
pub fn dns1123_label(name: &str) -> Option<String> {
    if name.len() > LABEL_MAX {
        return Some(format!("must be no more than {LABEL_MAX} characters"));
    }
    let well_formed = name.chars().all(|c| is_alnum_lower(c) || c == '-')
        && name.starts_with(is_alnum_lower)
        && name.ends_with(is_alnum_lower);
    (!well_formed).then(|| {
        "a lowercase RFC 1123 label must consist of lowercase letters, digits or '-', \
         and must start and end with a letter or digit (e.g. 'my-name' or '123-abc')"
            .to_owned()
    })
}

/// RFC 1035 label: Service names (they become DNS names and environment variable prefixes).
pub fn dns1035_label(name: &str) -> Option<String> {
    if name.len() > LABEL_MAX {
        return Some(format!("must be no more than {LABEL_MAX} characters"));
    }
    let well_formed = name.chars().all(|c| is_alnum_lower(c) || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(is_alnum_lower);
    (!well_formed).then(|| {
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
         with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name' \
         or 'abc-123')"
            .to_owned()
    })
}

/// RFC 1123 subdomain: pod names.
pub fn dns1123_subdomain(name: &str) -> Option<String> {
    if name.len() > SUBDOMAIN_MAX {
        return Some(format!("must be no more than {SUBDOMAIN_MAX} characters"));
    }
    let well_formed = name.split('.').all(|part| {
        part.chars().all(|c| is_alnum_lower(c) || c == '-')
            && part.starts_with(is_alnum_lower)
            && part.ends_with(is_alnum_lower)
    });
    (!well_formed).then(|| {
        "a lowercase RFC 1123 subdomain must consist of lowercase letters, digits, '-' or '.', \
         and must start and end with a letter or digit (e.g. 'example.com')"
            .to_owned()
    })
}

/// IANA service name: named container ports.
pub fn iana_svc_name(name: &str) -> Option<String> {
    if name.len() > 15 {
        return Some("must be no more than 15 characters".into());
    }
    if !name.chars().all(|c| is_alnum_lower(c) || c == '-') {
        return Some("must contain only lowercase letters, digits or '-' (e.g. 'http')".into());
    }
    if !name.starts_with(is_alnum_lower) || !name.ends_with(is_alnum_lower) {
        return Some("must start and end with a letter or digit".into());
    }
    if name.contains("--") {
        return Some("must not contain consecutive hyphens".into());
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return Some("must contain at least one letter (a-z)".into());
    }
    None
}

/// Environment variable names: since Kubernetes 1.30 any printable ASCII except '='.
pub fn env_var_name(name: &str) -> Option<String> {
    let valid = !name.is_empty() && name.chars().all(|c| matches!(c, ' '..='~') && c != '=');
    (!valid).then(|| "must consist only of printable ASCII characters other than '='".to_owned())
}

/// Label and annotation keys: an optional DNS subdomain prefix and `/`, then a name.
pub fn qualified_name(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Some("the prefix before '/' must not be empty".into());
        }
        if let Some(why) = dns1123_subdomain(prefix) {
            return Some(format!("prefix part {why}"));
        }
    }
    if name.is_empty() {
        return Some("the name part must not be empty".into());
    }
    if name.len() > LABEL_MAX {
        return Some(format!(
            "the name part must be no more than {LABEL_MAX} characters"
        ));
    }
    (!label_value_chars(name)).then(|| {
        "the name part must consist of letters, digits, '-', '_' or '.', and must start and end \
         with a letter or digit (e.g. 'MyName' or 'my.name')"
            .to_owned()
    })
}

/// Label values: empty, or up to 63 characters shaped like a qualified name's name part.
pub fn label_value(value: &str) -> Option<String> {
    if value.len() > LABEL_MAX {
        return Some(format!("must be no more than {LABEL_MAX} characters"));
    }
    (!value.is_empty() && !label_value_chars(value)).then(|| {
        "a valid label must be empty or consist of letters, digits, '-', '_' or '.', and must \
         start and end with a letter or digit"
            .to_owned()
    })
}

fn label_value_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        for ok in ["a", "my-app", "123-abc", "x1"] {
            assert_eq!(dns1123_label(ok), None, "{ok}");
        }
        for bad in ["", "My-App", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_some(), "{bad}");
        }
        assert_eq!(dns1123_subdomain("web.example.com"), None);
        for bad in ["", "a..b", "Web", ".a", &"a".repeat(254)] {
            assert!(dns1123_subdomain(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn port_names() {
        for ok in ["http", "web-8080", "h2c"] {
            assert_eq!(iana_svc_name(ok), None, "{ok}");
        }
        for bad in [
            "8080",
            "HTTP",
            "a--b",
            "-http",
            "averyveryverylongname",
            "a_b",
        ] {
            assert!(iana_svc_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn env_names_are_relaxed() {
        for ok in ["PATH", "my.var", "1ST", "a-b c"] {
            assert_eq!(env_var_name(ok), None, "{ok}");
        }
        for bad in ["", "A=B", "tab\t", "é"] {
            assert!(env_var_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for ok in ["app", "app.kubernetes.io/name", "My_Key.x"] {
            assert_eq!(qualified_name(ok), None, "{ok}");
        }
        for bad in ["", "/a", "Example.com/a", "a/", "-a", "a/b/c"] {
            assert!(qualified_name(bad).is_some(), "{bad}");
        }
        assert_eq!(label_value(""), None);
        assert_eq!(label_value("v1.2_b"), None);
        assert!(label_value("has space").is_some());
    }
}
