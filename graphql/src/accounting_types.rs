//! GraphQL types of accounting reports.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_projections::accounting::Dimension;

use crate::types::scope;
use crate::usecases::accounting::{self, Line};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccountingDimension {
    Tenant,
    Member,
    Group,
    Application,
    Resource,
    Day,
    Week,
    Month,
}

impl From<AccountingDimension> for Dimension {
    fn from(d: AccountingDimension) -> Self {
        match d {
            AccountingDimension::Tenant => Self::Tenant,
            AccountingDimension::Member => Self::Member,
            AccountingDimension::Group => Self::Group,
            AccountingDimension::Application => Self::Application,
            AccountingDimension::Resource => Self::Resource,
            AccountingDimension::Day => Self::Day,
            AccountingDimension::Week => Self::Week,
            AccountingDimension::Month => Self::Month,
        }
    }
}

impl From<Dimension> for AccountingDimension {
    fn from(d: Dimension) -> Self {
        match d {
            Dimension::Tenant => Self::Tenant,
            Dimension::Member => Self::Member,
            Dimension::Group => Self::Group,
            Dimension::Application => Self::Application,
            Dimension::Resource => Self::Resource,
            Dimension::Day => Self::Day,
            Dimension::Week => Self::Week,
            Dimension::Month => Self::Month,
        }
    }
}

/// The value of one dimension on a line: an id (or the period's first day) and a label
/// for people (e-mail, group or application name, tenant slug).
#[derive(SimpleObject)]
pub struct AccountingKey {
    dimension: AccountingDimension,
    value: String,
    label: String,
}

pub struct AccountingLine(Line);

#[Object]
impl AccountingLine {
    async fn keys(&self) -> Vec<AccountingKey> {
        self.0
            .keys
            .iter()
            .map(|(d, value, label)| AccountingKey {
                dimension: (*d).into(),
                value: value.clone(),
                label: label.clone(),
            })
            .collect()
    }
    /// Jobs whose first attempt ended in the period.
    async fn jobs(&self) -> i64 {
        self.0.jobs
    }
    /// Attempts that ended in the period.
    async fn attempts(&self) -> i64 {
        self.0.attempts
    }
    async fn wall_hours(&self) -> f64 {
        accounting::hours(self.0.wall_seconds)
    }
    /// Wall hours times the cores each attempt held (nodes × tasks per node).
    async fn core_hours(&self) -> f64 {
        accounting::hours(self.0.core_seconds)
    }
    /// The share of attempts that succeeded, 0 to 1.
    async fn success_rate(&self) -> f64 {
        self.0.success_rate()
    }
}

#[derive(Default)]
pub struct AccountingQuery;

#[Object]
impl AccountingQuery {
    /// What was used from `from` to `to` (whole UTC days), grouped by `groupBy` (empty:
    /// one line). Tenant admins see their tenant, platform admins every tenant. Also as
    /// CSV: `GET /accounting.csv?from=…&to=…&groupBy=MEMBER,MONTH`.
    async fn accounting(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group_by: Vec<AccountingDimension>,
    ) -> async_graphql::Result<Vec<AccountingLine>> {
        let by: Vec<Dimension> = group_by.into_iter().map(Into::into).collect();
        let lines = accounting::report(&scope(ctx)?, from, to, &by).await?;
        Ok(lines.into_iter().map(AccountingLine).collect())
    }
}
