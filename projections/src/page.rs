//! Keyset pagination over a read model's `position` column (the creating event's position).

/// A page request: at most `first` rows after the row at position `after`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub first: i64,
    pub after: Option<i64>,
}

/// Rows of one page, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `first + 1` fetched rows.
    pub fn from_fetched(mut rows: Vec<T>, first: i64) -> Self {
        let first = usize::try_from(first).unwrap_or(0);
        let has_next = rows.len() > first;
        rows.truncate(first);
        Self { rows, has_next }
    }
}

impl PageRequest {
    /// The LIMIT to fetch: one more than asked, to learn whether a next page exists.
    pub fn limit(&self) -> i64 {
        self.first + 1
    }

    pub fn after_position(&self) -> i64 {
        self.after.unwrap_or(0)
    }
}
