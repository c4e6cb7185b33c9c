//! Files of the member's home as File inputs of the submission forms offer them.

use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::spaces::{self, Listing, Place};
use medgrid_projections::spaces::Order;

use crate::visitor::Visitor;

/// How many files the input pickers offer (the path can always be typed).
const OFFERED: usize = 300;

/// Paths of files in the member's home, folders first, breadth first: what File inputs
/// offer to pick from.
pub async fn offered(v: &Visitor) -> Vec<String> {
    match home_files(v).await {
        Ok(paths) => paths,
        Err(e) => {
            tracing::warn!(error = ?e, "listing files to offer failed");
            vec![]
        }
    }
}

async fn home_files(v: &Visitor) -> Result<Vec<String>, ApiError> {
    let scope = v.scope();
    let Place::Node(home) = spaces::at_path(&scope, "/home").await? else {
        return Ok(vec![]);
    };
    let mut folders = std::collections::VecDeque::from([(*home, "/home".to_owned())]);
    let mut files = vec![];
    let listing = Listing {
        order: Order::Name,
        descending: false,
        offset: 0,
        first: spaces::MAX_PAGE,
    };
    while let Some((folder, path)) = folders.pop_front() {
        for node in spaces::children(&scope, &folder, listing).await? {
            let Some(name) = node.name.clone() else {
                continue;
            };
            let child = format!("{path}/{name}");
            if node.is_folder() {
                let at = spaces::Located {
                    space: folder.space.clone(),
                    right: folder.right,
                    node,
                };
                folders.push_back((at, child));
            } else {
                files.push(child);
                if files.len() >= OFFERED {
                    return Ok(files);
                }
            }
        }
    }
    Ok(files)
}
