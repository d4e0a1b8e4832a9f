//! Names of load balancers and target groups as ELBv2 allows them: 1 to 32 letters,
//! digits and hyphens, not starting or ending with a hyphen (and a load balancer's not
//! starting with `internal-`).

use crate::error::ElbError;

/// Checks a load balancer name.
pub fn check_load_balancer_name(name: &str) -> Result<(), ElbError> {
    check("Load balancer", name)?;
    if name.starts_with("internal-") {
        return Err(ElbError::Validation(format!(
            "Load balancer name '{name}' cannot begin with 'internal-'"
        )));
    }
    Ok(())
}

/// Checks a target group name.
pub fn check_target_group_name(name: &str) -> Result<(), ElbError> {
    check("Target group", name)
}

fn check(what: &str, name: &str) -> Result<(), ElbError> {
    let problem = if name.is_empty() {
        "cannot be empty"
    } else if name.len() > 32 {
        "cannot be longer than '32' characters"
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        "can only contain characters that are alphanumeric characters or hyphens(-)"
    } else if name.starts_with('-') || name.ends_with('-') {
        "cannot begin or end with '-' character"
    } else {
        return Ok(());
    };
    Err(ElbError::Validation(format!(
        "{what} name '{name}' {problem}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_elbv2_rules() {
        for good in ["web", "a", "my-app-2", &"x".repeat(32)] {
            assert!(check_target_group_name(good).is_ok(), "{good}");
            assert!(check_load_balancer_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-web",
            "web-",
            "we_b",
            "web.app",
            "wéb",
            &"x".repeat(33),
        ] {
            let e = check_target_group_name(bad).unwrap_err();
            assert_eq!(e.code(), "ValidationError", "{bad}");
        }
        assert!(check_target_group_name("internal-web").is_ok());
        assert!(check_load_balancer_name("internal-web").is_err());
        assert!(check_load_balancer_name(&"x".repeat(33))
            .unwrap_err()
            .message()
            .contains("longer than '32'"));
    }
}
