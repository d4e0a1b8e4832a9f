//! Resource tags: AWS's limits (50 per resource, keys ≤ 128 and values ≤ 256
//! characters, the `aws:` prefix reserved) and merging on TagResource.

use std::collections::BTreeMap;

use berth_api::error::ApiError;

/// The most tags one resource may carry.
pub const MAX_TAGS: usize = 50;

/// A resource's tags, ordered by key.
pub type Tags = BTreeMap<String, String>;

/// The managed tag ECS puts on a task with the name of its cluster
/// (`enableECSManagedTags`).
pub const MANAGED_CLUSTER_NAME: &str = "aws:ecs:clusterName";
/// The managed tag ECS puts on a service's task with the name of its service.
pub const MANAGED_SERVICE_NAME: &str = "aws:ecs:serviceName";

/// Checks one key/value pair against AWS's rules.
pub fn validate_tag(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(ApiError::InvalidParameter(format!(
            "Tag key '{key}' must be between 1 and 128 characters."
        )));
    }
    if value.chars().count() > 256 {
        return Err(ApiError::InvalidParameter(format!(
            "Tag value for key '{key}' must be at most 256 characters."
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::InvalidParameter(
            "Tag keys beginning with 'aws:' are reserved.".into(),
        ));
    }
    Ok(())
}

/// Adds or replaces `new` tags on `existing`, enforcing the per-resource limit.
pub fn merge(
    existing: &mut Tags,
    new: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ApiError> {
    let mut merged = existing.clone();
    for (k, v) in new {
        validate_tag(&k, &v)?;
        merged.insert(k, v);
    }
    if merged.len() > MAX_TAGS {
        return Err(ApiError::InvalidParameter(format!(
            "A resource can have at most {MAX_TAGS} tags; this request would leave {}.",
            merged.len()
        )));
    }
    *existing = merged;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_limits() {
        let mut t = Tags::new();
        merge(&mut t, [("env".into(), "prod".into())]).unwrap();
        merge(
            &mut t,
            [("env".into(), "dev".into()), ("team".into(), "a".into())],
        )
        .unwrap();
        assert_eq!(t.get("env").unwrap(), "dev");
        assert_eq!(t.len(), 2);
        let many = (0..49).map(|i| (format!("k{i}"), String::new()));
        let before = t.clone();
        assert!(merge(&mut t, many).is_err());
        assert_eq!(t, before, "a rejected merge changes nothing");
    }

    #[test]
    fn rejects_bad_tags() {
        assert!(validate_tag("", "v").is_err());
        assert!(validate_tag(&"k".repeat(129), "v").is_err());
        assert!(validate_tag("k", &"v".repeat(257)).is_err());
        assert!(validate_tag("aws:owner", "x").is_err());
        assert!(validate_tag("owner", "").is_ok());
    }
}
