//! The one paging loop both vendors list through (`pages`), the page it
//! takes (`Page`), and `malformed`, the error for an answer that cannot be
//! read as the vendor documents it.
//!
//! It makes no request itself: each vendor passes a `fetch` that asks for a
//! page at a cursor and reads the vendor's own paging fields.

use super::http::ApiError;
use anyhow::Result;

/// One page of a listing: its items, and the cursor of the next page where
/// the vendor says there is one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The one paging loop both vendors list through: `fetch` asks for the page
/// at a cursor (none: the first) and `on_page` takes each page's items. A
/// cursor that does not advance is a malformed answer: the listing stops
/// rather than loop.
pub fn pages<T>(
    system: &str,
    what: &str,
    mut fetch: impl FnMut(Option<&str>) -> Result<Page<T>>,
    on_page: &mut dyn FnMut(Vec<T>) -> Result<()>,
) -> Result<()> {
    let mut cursor: Option<String> = None;
    loop {
        let page = fetch(cursor.as_deref())?;
        on_page(page.items)?;
        match page.next {
            None => return Ok(()),
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                let detail = format!("{what}: the paging cursor did not advance");
                return Err(malformed(system, detail).into());
            }
            Some(next) => cursor = Some(next),
        }
    }
}

/// An answer of `system` that cannot be read as the vendor documents it.
pub fn malformed(system: &str, detail: String) -> ApiError {
    ApiError::Malformed {
        system: system.to_string(),
        detail,
    }
}
