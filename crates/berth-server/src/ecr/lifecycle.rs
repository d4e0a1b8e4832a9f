//! ECR lifecycle policies: parsing and validating the policy text, and deciding which
//! images a policy expires. Pure: the registry's upkeep reads the
//! images and deletes what [`Policy::expired`] names.
//!
//! How rules combine, as ECR documents it:
//!
//! - Rules apply in `rulePriority` order, lowest first; each image is expired by at most
//!   one rule.
//! - An image whose tags a rule selects is that rule's: rules of lower priority (higher
//!   numbers) never expire it, whether or not the selecting rule did.
//! - `imageCountMoreThan: N` keeps the N most recently pushed images the rule selects
//!   (counting images that higher-priority rules selected) and expires the older ones;
//!   `sinceImagePushed: N days` expires selected images pushed more than N days ago.
//! - `tagStatus`: `untagged` selects images without tags, `any` every image, and
//!   `tagged` the images that have, for *every* entry of `tagPrefixList` (or
//!   `tagPatternList`, `*` matching any run of characters), a tag that matches it.
//! - An image an index (or manifest list) of the repository names is never expired
//!   while that index exists.

use std::collections::{BTreeSet, HashSet};

use berth_api::error::ApiError;
use berth_model::wildcard;
use berth_registry::metadata::Image;
use berth_registry::Digest;
use serde::Deserialize;

/// Most rules one policy may have (ECR's limit).
const MAX_RULES: usize = 50;
/// Most wildcards in one `tagPatternList` entry (ECR's limit).
const MAX_WILDCARDS: usize = 4;
/// Longest policy text ECR accepts.
pub const MAX_POLICY_TEXT: usize = 30_720;
const DAY_MILLIS: u64 = 24 * 3600 * 1000;

/// A validated lifecycle policy, rules in the order they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    priority: i64,
    selection: Selection,
    count: Count,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    Untagged,
    Any,
    /// Every prefix must begin one of the image's tags.
    Prefixes(Vec<String>),
    /// Every pattern must match one of the image's tags.
    Patterns(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    MoreThan(usize),
    PushedDaysAgo(u64),
}

// ---- The policy text as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    rules: Vec<RuleText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleText {
    rule_priority: i64,
    #[serde(default)]
    #[allow(dead_code)] // Kept in the stored text; no part of the evaluation.
    description: Option<String>,
    selection: SelectionText,
    action: ActionText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SelectionText {
    tag_status: String,
    #[serde(default)]
    tag_prefix_list: Option<Vec<String>>,
    #[serde(default)]
    tag_pattern_list: Option<Vec<String>>,
    count_type: String,
    #[serde(default)]
    count_unit: Option<String>,
    count_number: i64,
    #[serde(default)]
    storage_class: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActionText {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    target_storage_class: Option<String>,
}

/// ECR's wording for a policy it refuses.
fn invalid(reason: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidParameter(format!(
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: \
         'Lifecycle policy validation failure: {reason}'"
    ))
}

impl Policy {
    /// Parses and validates a policy's JSON text.
    pub fn parse(text: &str) -> Result<Policy, ApiError> {
        if text.len() > MAX_POLICY_TEXT {
            return Err(invalid(format!(
                "the policy is {} characters; at most {MAX_POLICY_TEXT} are allowed",
                text.len()
            )));
        }
        let parsed: Text = serde_json::from_str(text).map_err(invalid)?;
        if parsed.rules.is_empty() {
            return Err(invalid("a policy needs at least one rule"));
        }
        if parsed.rules.len() > MAX_RULES {
            return Err(invalid(format!("a policy has at most {MAX_RULES} rules")));
        }
        let mut rules = parsed
            .rules
            .into_iter()
            .map(Rule::from_text)
            .collect::<Result<Vec<_>, _>>()?;
        rules.sort_by_key(|r| r.priority);
        let priorities: BTreeSet<i64> = rules.iter().map(|r| r.priority).collect();
        if priorities.len() != rules.len() {
            return Err(invalid("rulePriority must be unique among the rules"));
        }
        if rules
            .iter()
            .filter(|r| r.selection == Selection::Untagged)
            .count()
            > 1
        {
            return Err(invalid("only one rule may select untagged images"));
        }
        let last = rules.len() - 1;
        if rules[..last].iter().any(|r| r.selection == Selection::Any) {
            return Err(invalid(
                "a rule with tagStatus 'any' must have the highest rulePriority",
            ));
        }
        Ok(Policy { rules })
    }

    /// The images the policy expires now (`now`: milliseconds since the Unix epoch),
    /// oldest first.
    pub fn expired(&self, images: &[Image], now: u64) -> Vec<Digest> {
        let held: HashSet<&Digest> = images
            .iter()
            .flat_map(|i| i.manifest.manifests.iter())
            .collect();
        let mut claimed: HashSet<&Digest> = HashSet::new();
        let mut expired: Vec<&Image> = Vec::new();
        for rule in &self.rules {
            let mut selected: Vec<&Image> = images
                .iter()
                .filter(|i| rule.selection.selects(&i.tags))
                .collect();
            // Newest first; ties broken by digest so the outcome is stable.
            selected.sort_by(|a, b| {
                (b.manifest.pushed_at, &b.digest).cmp(&(a.manifest.pushed_at, &a.digest))
            });
            let over: Vec<&Image> = match rule.count {
                Count::MoreThan(keep) => selected.iter().skip(keep).copied().collect(),
                Count::PushedDaysAgo(days) => {
                    let before = now.saturating_sub(days.saturating_mul(DAY_MILLIS));
                    selected
                        .iter()
                        .filter(|i| i.manifest.pushed_at < before)
                        .copied()
                        .collect()
                }
            };
            for image in over {
                if !claimed.contains(&image.digest) && !held.contains(&image.digest) {
                    expired.push(image);
                }
            }
            claimed.extend(selected.iter().map(|i| &i.digest));
        }
        expired.sort_by(|a, b| {
            (a.manifest.pushed_at, &a.digest).cmp(&(b.manifest.pushed_at, &b.digest))
        });
        expired.into_iter().map(|i| i.digest.clone()).collect()
    }
}

impl Rule {
    fn from_text(rule: RuleText) -> Result<Rule, ApiError> {
        let priority = rule.rule_priority;
        if priority < 1 {
            return Err(invalid(format!(
                "rulePriority {priority} must be a positive integer"
            )));
        }
        let s = rule.selection;
        if rule.action.kind != "expire" || rule.action.target_storage_class.is_some() {
            return Err(invalid(format!(
                "rule {priority}: action type '{}' is not supported by Berth; only 'expire' is",
                rule.action.kind
            )));
        }
        if s.storage_class.as_deref().is_some_and(|c| c != "standard") {
            return Err(invalid(format!(
                "rule {priority}: Berth has only the 'standard' storage class"
            )));
        }
        let lists = (
            s.tag_prefix_list.filter(|l| !l.is_empty()),
            s.tag_pattern_list.filter(|l| !l.is_empty()),
        );
        let selection = match (s.tag_status.as_str(), lists) {
            ("tagged", (Some(_), Some(_))) => {
                return Err(invalid(format!(
                    "rule {priority}: give tagPrefixList or tagPatternList, not both"
                )))
            }
            ("tagged", (Some(prefixes), None)) => Selection::Prefixes(prefixes),
            ("tagged", (None, Some(patterns))) => {
                if let Some(p) = patterns
                    .iter()
                    .find(|p| p.matches('*').count() > MAX_WILDCARDS)
                {
                    return Err(invalid(format!(
                        "rule {priority}: tag pattern '{p}' has more than {MAX_WILDCARDS} \
                         wildcards"
                    )));
                }
                Selection::Patterns(patterns)
            }
            ("tagged", (None, None)) => {
                return Err(invalid(format!(
                    "rule {priority}: tagStatus 'tagged' needs a tagPrefixList or a \
                     tagPatternList"
                )))
            }
            ("untagged" | "any", (None, None)) => {
                if s.tag_status == "any" {
                    Selection::Any
                } else {
                    Selection::Untagged
                }
            }
            ("untagged" | "any", _) => {
                return Err(invalid(format!(
                    "rule {priority}: tagPrefixList and tagPatternList are only for \
                     tagStatus 'tagged'"
                )))
            }
            (other, _) => {
                return Err(invalid(format!(
                    "rule {priority}: tagStatus '{other}' is not one of tagged, untagged, any"
                )))
            }
        };
        if s.count_number < 1 {
            return Err(invalid(format!(
                "rule {priority}: countNumber must be at least 1"
            )));
        }
        let number = s.count_number as u64;
        let count = match (s.count_type.as_str(), s.count_unit.as_deref()) {
            ("imageCountMoreThan", None) => Count::MoreThan(number as usize),
            ("imageCountMoreThan", Some(_)) => {
                return Err(invalid(format!(
                    "rule {priority}: countUnit is not allowed with imageCountMoreThan"
                )))
            }
            ("sinceImagePushed", Some("days")) => Count::PushedDaysAgo(number),
            ("sinceImagePushed", _) => {
                return Err(invalid(format!(
                    "rule {priority}: sinceImagePushed needs countUnit 'days'"
                )))
            }
            (other, _) => {
                return Err(invalid(format!(
                    "rule {priority}: countType '{other}' is not supported; use \
                     imageCountMoreThan or sinceImagePushed"
                )))
            }
        };
        Ok(Rule {
            priority,
            selection,
            count,
        })
    }
}

impl Selection {
    fn selects(&self, tags: &[String]) -> bool {
        match self {
            Selection::Untagged => tags.is_empty(),
            Selection::Any => true,
            Selection::Prefixes(prefixes) => prefixes
                .iter()
                .all(|p| tags.iter().any(|t| t.starts_with(p.as_str()))),
            Selection::Patterns(patterns) => patterns
                .iter()
                .all(|p| tags.iter().any(|t| wildcard::matches(p, t))),
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_registry::metadata::ManifestRecord;

    use super::*;

    fn image(name: &str, pushed_at: u64, tags: &[&str]) -> Image {
        Image {
            digest: Digest::of(name.as_bytes()),
            manifest: ManifestRecord {
                media_type: berth_registry::manifests::OCI_MANIFEST.into(),
                size: 1,
                pushed_at,
                blobs: Vec::new(),
                layers_size: 0,
                manifests: Vec::new(),
                subject: None,
                artifact_type: None,
                config_media_type: None,
            },
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn names(images: &[Image], expired: &[Digest]) -> Vec<String> {
        expired
            .iter()
            .map(|d| {
                let i = images.iter().position(|i| &i.digest == d).unwrap();
                format!("i{i}")
            })
            .collect()
    }

    fn policy(rules: &str) -> Policy {
        Policy::parse(&format!(r#"{{"rules": [{rules}]}}"#)).unwrap()
    }

    fn rule(priority: i64, selection: &str, count: &str) -> String {
        format!(
            r#"{{"rulePriority": {priority}, "selection": {{{selection}, {count}}},
                "action": {{"type": "expire"}}}}"#
        )
    }

    const KEEP_2: &str = r#""countType": "imageCountMoreThan", "countNumber": 2"#;

    #[test]
    fn untagged_images_beyond_the_count_expire_oldest_first() {
        let images = [
            image("a", 1, &[]),
            image("b", 2, &[]),
            image("c", 3, &["v1"]),
            image("d", 4, &[]),
            image("e", 5, &[]),
        ];
        let p = policy(&rule(1, r#""tagStatus": "untagged""#, KEEP_2));
        assert_eq!(names(&images, &p.expired(&images, 10)), ["i0", "i1"]);
    }

    #[test]
    fn images_older_than_the_days_expire() {
        let day = DAY_MILLIS;
        let images = [image("a", 0, &[]), image("b", 9 * day, &[])];
        let p = policy(&rule(
            1,
            r#""tagStatus": "any""#,
            r#""countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3"#,
        ));
        assert_eq!(names(&images, &p.expired(&images, 10 * day)), ["i0"]);
    }

    #[test]
    fn a_higher_priority_rule_claims_what_it_selects() {
        // Rule 1 keeps two "prod" images and so claims all three; rule 2 would expire
        // everything but the newest, yet it may only take the images rule 1 did not
        // select — and it still counts them.
        let images = [
            image("a", 1, &["prod-1"]),
            image("b", 2, &["prod-2"]),
            image("c", 3, &["dev-1"]),
            image("d", 4, &["prod-3"]),
            image("e", 5, &["dev-2"]),
        ];
        let p = policy(&format!(
            "{},{}",
            rule(
                1,
                r#""tagStatus": "tagged", "tagPrefixList": ["prod"]"#,
                KEEP_2
            ),
            rule(
                2,
                r#""tagStatus": "any""#,
                r#""countType": "imageCountMoreThan", "countNumber": 1"#
            )
        ));
        assert_eq!(names(&images, &p.expired(&images, 10)), ["i0", "i2"]);
    }

    #[test]
    fn every_prefix_or_pattern_must_match_a_tag() {
        let images = [
            image("a", 1, &["prod-1", "beta-1"]),
            image("b", 2, &["prod-2"]),
            image("c", 3, &["release-7-final"]),
        ];
        let one = r#""countType": "imageCountMoreThan", "countNumber": 1"#;
        let both = policy(&rule(
            1,
            r#""tagStatus": "tagged", "tagPrefixList": ["prod", "beta"]"#,
            one,
        ));
        // Only image a has both prefixes, and keeping one keeps it.
        assert!(both.expired(&images, 10).is_empty());
        let patterns = policy(&rule(
            1,
            r#""tagStatus": "tagged", "tagPatternList": ["*-*"]"#,
            one,
        ));
        assert_eq!(names(&images, &patterns.expired(&images, 10)), ["i0", "i1"]);
    }

    #[test]
    fn images_an_index_names_are_kept() {
        let mut index = image("index", 5, &["multi"]);
        let child = image("child", 1, &[]);
        index.manifest.manifests = vec![child.digest.clone()];
        let images = [child, image("loose", 2, &[]), index];
        let p = policy(&rule(
            1,
            r#""tagStatus": "untagged""#,
            r#""countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#,
        ));
        assert_eq!(names(&images, &p.expired(&images, 3 * DAY_MILLIS)), ["i1"]);
    }

    #[test]
    fn invalid_policies_are_refused_with_reasons() {
        let cases = [
            ("not json", "expected"),
            (r#"{"rules": []}"#, "at least one rule"),
            (
                &format!(
                    r#"{{"rules": [{}]}}"#,
                    rule(1, r#""tagStatus": "tagged""#, KEEP_2)
                ),
                "needs a tagPrefixList",
            ),
            (
                &format!(
                    r#"{{"rules": [{}]}}"#,
                    rule(
                        1,
                        r#""tagStatus": "untagged", "tagPrefixList": ["v"]"#,
                        KEEP_2
                    )
                ),
                "only for tagStatus 'tagged'",
            ),
            (
                &format!(
                    r#"{{"rules": [{},{}]}}"#,
                    rule(1, r#""tagStatus": "untagged""#, KEEP_2),
                    rule(1, r#""tagStatus": "any""#, KEEP_2)
                ),
                "unique",
            ),
            (
                &format!(
                    r#"{{"rules": [{},{}]}}"#,
                    rule(1, r#""tagStatus": "any""#, KEEP_2),
                    rule(2, r#""tagStatus": "untagged""#, KEEP_2)
                ),
                "highest rulePriority",
            ),
            (
                &format!(
                    r#"{{"rules": [{}]}}"#,
                    rule(
                        1,
                        r#""tagStatus": "any""#,
                        r#""countType": "sinceImagePushed", "countNumber": 2"#
                    )
                ),
                "countUnit 'days'",
            ),
            (
                &format!(
                    r#"{{"rules": [{}]}}"#,
                    rule(
                        1,
                        r#""tagStatus": "tagged", "tagPatternList": ["a*b*c*d*e*f"]"#,
                        KEEP_2
                    )
                ),
                "wildcards",
            ),
            (
                &format!(
                    r#"{{"rules": [{}]}}"#,
                    rule(
                        1,
                        r#""tagStatus": "any""#,
                        r#""countType": "imageCountMoreThan", "countNumber": 0"#
                    )
                ),
                "at least 1",
            ),
            (
                r#"{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any",
                    "countType": "imageCountMoreThan", "countNumber": 1},
                    "action": {"type": "transition", "targetStorageClass": "archive"}}]}"#,
                "only 'expire'",
            ),
            (r#"{"rules": [], "extra": 1}"#, "unknown field"),
        ];
        for (text, reason) in cases {
            let e = Policy::parse(text).unwrap_err();
            assert_eq!(e.code(), "InvalidParameterException");
            assert!(
                e.message().contains("Lifecycle policy validation failure")
                    && e.message().contains(reason),
                "{text}: {}",
                e.message()
            );
        }
    }
}
