//! Rule condition patterns as ALB matches them: `*` is any run of characters (none
//! included), `?` exactly one character, everything else itself. Path patterns are
//! case-sensitive; host names are compared without regard to ASCII case.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Greedy scan with one backtrack point: the latest `*` and where its run ends.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        for (pattern, text, expected) in [
            ("/api/*", "/api/users", true),
            ("/api/*", "/api/", true),
            ("/api/*", "/api", false),
            ("/img/*.png", "/img/a/b.png", true),
            ("/img/*.png", "/img/a.jpg", false),
            ("/v?/x", "/v1/x", true),
            ("/v?/x", "/v10/x", false),
            ("*", "", true),
            ("", "", true),
            ("", "/", false),
            ("/a*b*c", "/aXbYc", true),
            ("/a*b*c", "/acb", false),
            ("*a*a", "aaa", true),
            ("/API/*", "/api/x", false),
        ] {
            assert_eq!(
                matches(pattern, text, false),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn hosts_ignore_case() {
        assert!(matches("*.example.com", "API.Example.COM", true));
        assert!(matches("www.example.co?", "www.example.com", true));
        assert!(!matches("*.example.com", "example.com", true));
        assert!(!matches("*.example.com", "API.Example.COM", false));
    }
}
