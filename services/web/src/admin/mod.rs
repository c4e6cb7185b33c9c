//! Administration pages for tenant administrators (and platform administrators): the
//! accounting dashboard. Every figure comes through the same use cases as GraphQL, which
//! refuse members who are not administrators.

pub mod accounting;
mod chart;

use askama::Template;
use axum::response::Response;

use crate::view;
use crate::visitor::Visitor;

#[derive(Template)]
#[template(path = "web/admin.html")]
struct Index<'a> {
    v: &'a Visitor,
    section: &'a str,
}

/// GET /admin: where the administration pages are.
pub async fn index(v: Visitor) -> Response {
    if !v.is_admin() {
        return view::failure(&v, &not_admin());
    }
    view::ok(
        &v,
        &Index {
            v: &v,
            section: "admin",
        },
    )
}

fn not_admin() -> medgrid_graphql::ApiError {
    medgrid_graphql::ApiError::new(
        medgrid_domain::Code::Forbidden,
        "administration is for the tenant's administrators",
    )
}
