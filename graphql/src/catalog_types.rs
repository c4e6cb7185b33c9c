//! GraphQL types of the catalog: enough of each descriptor for a client to build a form.

use async_graphql::{Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::catalog::{Descriptor, Input, InputType};
use medgrid_projections::applications::ApplicationRow;
use serde_json::Value;

use crate::ApiError;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "InputType")]
pub enum InputKind {
    String,
    File,
    Flag,
    Number,
}

impl From<InputType> for InputKind {
    fn from(t: InputType) -> Self {
        match t {
            InputType::String => Self::String,
            InputType::File => Self::File,
            InputType::Flag => Self::Flag,
            InputType::Number => Self::Number,
        }
    }
}

/// One input of an application, as a form field.
#[derive(SimpleObject)]
pub struct ApplicationInput {
    id: String,
    name: String,
    #[graphql(name = "type")]
    kind: InputKind,
    description: Option<String>,
    optional: bool,
    list: bool,
    default: Option<Json<Value>>,
    choices: Option<Vec<Json<Value>>>,
    integer: bool,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_entries: Option<u64>,
    max_entries: Option<u64>,
}

impl From<&Input> for ApplicationInput {
    fn from(i: &Input) -> Self {
        Self {
            id: i.id.clone(),
            name: i.name.clone(),
            kind: i.kind.into(),
            description: i.description.clone(),
            optional: i.optional,
            list: i.list,
            default: i.default_value.clone().map(Json),
            choices: i
                .value_choices
                .clone()
                .map(|c| c.into_iter().map(Json).collect()),
            integer: i.integer,
            minimum: i.minimum,
            maximum: i.maximum,
            min_entries: i.min_list_entries,
            max_entries: i.max_list_entries,
        }
    }
}

#[derive(SimpleObject)]
pub struct ApplicationOutput {
    id: String,
    name: String,
    description: Option<String>,
    optional: bool,
}

pub struct Application(pub ApplicationRow);

impl Application {
    fn parsed(&self) -> Result<Descriptor, ApiError> {
        // Validated when it was registered; failing here is a bug, not bad input.
        Descriptor::parse(&self.0.descriptor).map_err(|e| {
            tracing::error!(application = %self.0.id, error = %e, "stored descriptor no longer parses");
            ApiError::new(medgrid_domain::Code::Internal, "internal error")
        })
    }
}

#[Object]
impl Application {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The tool version (`tool-version` of the descriptor).
    async fn version(&self) -> &str {
        &self.0.version
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The platform admin lets its jobs reach the network (never this host nor private
    /// networks); otherwise they reach only Medgrid's API.
    async fn networked(&self) -> bool {
        self.0.networked
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn inputs(&self) -> async_graphql::Result<Vec<ApplicationInput>> {
        Ok(self.parsed()?.inputs.iter().map(Into::into).collect())
    }
    async fn outputs(&self) -> async_graphql::Result<Vec<ApplicationOutput>> {
        Ok(self
            .parsed()?
            .output_files
            .iter()
            .map(|o| ApplicationOutput {
                id: o.id.clone(),
                name: o.name.clone(),
                description: o.description.clone(),
                optional: o.optional,
            })
            .collect())
    }
    /// The Boutiques descriptor as registered.
    async fn descriptor(&self) -> Json<Value> {
        Json(self.0.descriptor.clone())
    }
}
