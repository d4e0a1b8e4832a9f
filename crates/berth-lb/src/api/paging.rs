//! `Marker` / `PageSize` / `NextMarker` as the Describe operations use them. A marker is
//! the opaque (base64url) sort key of the last item returned; the next page starts
//! strictly after it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::ElbError;
use berth_query::Params;

/// The largest `PageSize`, and the page size when none is given.
pub const MAX_PAGE_SIZE: usize = 400;

/// A request's paging members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    after: Option<String>,
    size: usize,
}

impl Paging {
    /// Reads `Marker` and `PageSize` (1-400).
    pub fn parse(p: &Params) -> Result<Paging, ElbError> {
        let size = p
            .int_in("PageSize", 1, MAX_PAGE_SIZE as i64)?
            .map(|n| n as usize)
            .unwrap_or(MAX_PAGE_SIZE);
        let after = match p.string("Marker").filter(|m| !m.is_empty()) {
            None => None,
            Some(marker) => {
                let invalid = || ElbError::Validation(format!("Invalid marker '{marker}'"));
                let bytes = URL_SAFE_NO_PAD.decode(&marker).map_err(|_| invalid())?;
                Some(String::from_utf8(bytes).map_err(|_| invalid())?)
            }
        };
        Ok(Paging { after, size })
    }

    /// One page of `items`, sorted by `key`, and the marker of the next page when more
    /// follow.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        items.sort_by_key(|i| key(i));
        if let Some(after) = &self.after {
            items.retain(|i| key(i).as_str() > after.as_str());
        }
        if items.len() <= self.size {
            return (items, None);
        }
        items.truncate(self.size);
        let marker = items.last().map(|i| URL_SAFE_NO_PAD.encode(key(i)));
        (items, marker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_markers_to_the_end() {
        let items: Vec<String> = (0..7).map(|i| format!("item-{i}")).collect();
        let mut marker: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let mut pairs = vec![("PageSize".to_string(), "3".to_string())];
            if let Some(m) = &marker {
                pairs.push(("Marker".into(), m.clone()));
            }
            let p = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let (page, next) = Paging::parse(&p)
                .unwrap()
                .page(items.clone(), |s| s.clone());
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let bad = Params::from_pairs([("Marker", "!!")]);
        assert_eq!(Paging::parse(&bad).unwrap_err().code(), "ValidationError");
        assert!(Paging::parse(&Params::from_pairs([("PageSize", "401")])).is_err());
    }
}
