//! The start page of a signed-in member: what runs, what just ended, where to go.

use askama::Template;
use axum::response::Response;
use chrono::{DateTime, Utc};
use medgrid_graphql::usecases::jobs;
use medgrid_projections::jobs::JobRow;
use medgrid_projections::page::PageRequest;

use crate::view;
use crate::visitor::Visitor;

#[derive(Template)]
#[template(path = "web/home.html")]
struct Home<'a> {
    v: &'a Visitor,
    section: &'a str,
    recent: Vec<JobRow>,
}

impl Home<'_> {
    fn short(&self, id: &uuid::Uuid) -> String {
        crate::jobs::short(*id)
    }
    fn when(&self, at: &DateTime<Utc>) -> String {
        crate::jobs::when(*at)
    }
}

pub async fn page(v: Visitor) -> Response {
    let page = PageRequest {
        first: 5,
        after: None,
    };
    let recent = match jobs::list(&v.scope(), &Default::default(), page).await {
        Ok(p) => p.rows,
        Err(e) => return view::failure(&v, &e),
    };
    view::ok(
        &v,
        &Home {
            v: &v,
            section: "",
            recent,
        },
    )
}
