//! Which endpoint a `/v2/…` path names. Repository names contain `/` (and may even
//! contain components such as `blobs` or `manifests`), so a path is read from its end:
//! the endpoint is decided by its last one to three segments, and the repository name is
//! everything before them. The name is returned as sent (not percent-decoded), to be
//! validated by the caller; only the final digest or reference segment is decoded.

use percent_encoding::percent_decode_str;

/// An endpoint of the distribution API, with the raw repository name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/NAME/tags/list`
    Tags { name: String },
    /// `/v2/NAME/manifests/REFERENCE`
    Manifest { name: String, reference: String },
    /// `/v2/NAME/blobs/DIGEST`
    Blob { name: String, digest: String },
    /// `/v2/NAME/blobs/uploads/`
    UploadStart { name: String },
    /// `/v2/NAME/blobs/uploads/ID`
    Upload { name: String, id: String },
    /// `/v2/NAME/referrers/DIGEST`
    Referrers { name: String, digest: String },
}

/// The route of a request path, or `None` when it names no endpoint.
pub fn parse(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags { name: name.into() });
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::UploadStart { name: name.into() });
    }
    let (before, last) = rest.rsplit_once('/')?;
    let (name, kind) = before.rsplit_once('/')?;
    let last = percent_decode_str(last).decode_utf8().ok()?.into_owned();
    if last.is_empty() {
        return None;
    }
    let name = name.to_owned();
    match kind {
        "manifests" => Some(Route::Manifest {
            name,
            reference: last,
        }),
        "blobs" => Some(Route::Blob { name, digest: last }),
        "referrers" => Some(Route::Referrers { name, digest: last }),
        "uploads" => {
            let name = name.strip_suffix("/blobs")?.to_owned();
            Some(Route::Upload { name, id: last })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, reference: &str) -> Option<Route> {
        Some(Route::Manifest {
            name: name.into(),
            reference: reference.into(),
        })
    }

    #[test]
    fn paths_name_their_endpoints() {
        assert_eq!(parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            parse("/v2/team/app/tags/list"),
            Some(Route::Tags {
                name: "team/app".into()
            })
        );
        assert_eq!(
            parse("/v2/team/app/manifests/v1"),
            manifest("team/app", "v1")
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256%3Aab"),
            Some(Route::Blob {
                name: "a".into(),
                digest: "sha256:ab".into()
            })
        );
        for path in ["/v2/a/b/blobs/uploads/", "/v2/a/b/blobs/uploads"] {
            assert_eq!(parse(path), Some(Route::UploadStart { name: "a/b".into() }));
        }
        assert_eq!(
            parse("/v2/a/b/blobs/uploads/1234"),
            Some(Route::Upload {
                name: "a/b".into(),
                id: "1234".into()
            })
        );
        assert_eq!(
            parse("/v2/a/referrers/sha256:x"),
            Some(Route::Referrers {
                name: "a".into(),
                digest: "sha256:x".into()
            })
        );
    }

    #[test]
    fn names_may_contain_endpoint_words() {
        assert_eq!(
            parse("/v2/x/blobs/y/manifests/latest"),
            manifest("x/blobs/y", "latest")
        );
        assert_eq!(
            parse("/v2/x/manifests/blobs/uploads/"),
            Some(Route::UploadStart {
                name: "x/manifests".into()
            })
        );
        assert_eq!(
            parse("/v2/a/tags/list/tags/list"),
            Some(Route::Tags {
                name: "a/tags/list".into()
            })
        );
        assert_eq!(
            parse("/v2/a/tags/list/manifests/list"),
            manifest("a/tags/list", "list")
        );
        assert_eq!(
            parse("/v2/x/blobs/uploads/blobs/sha256:1"),
            Some(Route::Blob {
                name: "x/blobs/uploads".into(),
                digest: "sha256:1".into()
            })
        );
    }

    #[test]
    fn odd_paths_keep_their_raw_names_or_name_nothing() {
        assert_eq!(parse("/v2/../x/manifests/v1"), manifest("../x", "v1"));
        assert_eq!(parse("/v2/a//b/manifests/v1"), manifest("a//b", "v1"));
        assert_eq!(parse("/v2/a%2Fb/manifests/v1"), manifest("a%2Fb", "v1"));
        assert_eq!(parse("/v2/manifests/v1"), None);
        assert_eq!(parse("/v2/a/manifests/"), None);
        assert_eq!(parse("/v2/a/uploads/x"), None);
        assert_eq!(parse("/v2/a/other/x"), None);
        assert_eq!(parse("/v3/a/manifests/x"), None);
        assert_eq!(parse("/v2/a/blobs/%FF"), None);
    }
}
