//! Fields that may appear at most once in an operation. Aliases let one request ask the
//! same root field many times (`a: login(…) b: login(…)` tries two passwords); for fields
//! that are costly or guess-able, that is refused before anything runs.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Name;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};
use medgrid_domain::Code;

/// Root fields asked at most once per operation: `login` (one password per request),
/// `dicomWebStudies` (one search of a hospital's server per request).
pub const ONCE_PER_OPERATION: &[&str] = &["login", "dicomWebStudies"];

pub struct OncePerOperation;

impl ExtensionFactory for OncePerOperation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OncePerOperationCheck)
    }
}

struct OncePerOperationCheck;

#[async_trait::async_trait]
impl Extension for OncePerOperationCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check(&document)?;
        Ok(document)
    }
}

/// Refuses a document any of whose operations asks one of [`ONCE_PER_OPERATION`] twice
/// (directives such as `@skip` are not evaluated: the count is of what is written).
fn check(document: &ExecutableDocument) -> ServerResult<()> {
    for (_, operation) in document.operations.iter() {
        for field in ONCE_PER_OPERATION {
            let count = count(
                document,
                &operation.node.selection_set.node,
                field,
                &mut HashMap::new(),
            );
            if count > 1 {
                let mut extensions = ErrorExtensionValues::default();
                extensions.set("code", Code::InvalidInput.as_str());
                return Err(ServerError {
                    extensions: Some(extensions),
                    ..ServerError::new(
                        format!("`{field}` may be asked at most once per operation"),
                        None,
                    )
                });
            }
        }
    }
    Ok(())
}

/// How often the root field `name` is selected in `set`, through fragments. Each
/// fragment is counted once (`seen`), so a document spreading fragments into each other
/// costs work in its length, not in the number of paths through it; a fragment spread
/// inside itself counts as too many (validation refuses the cycle anyway).
fn count(
    document: &ExecutableDocument,
    set: &SelectionSet,
    name: &str,
    seen: &mut HashMap<Name, Option<usize>>,
) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(f.node.name.node.as_str() == name),
            Selection::InlineFragment(inline) => {
                count(document, &inline.node.selection_set.node, name, seen)
            }
            Selection::FragmentSpread(spread) => {
                let fragment = &spread.node.fragment_name.node;
                match seen.get(fragment) {
                    Some(Some(n)) => *n,
                    // still being counted: a cycle
                    Some(None) => 2,
                    None => {
                        seen.insert(fragment.clone(), None);
                        let n = document.fragments.get(fragment).map_or(0, |f| {
                            count(document, &f.node.selection_set.node, name, seen)
                        });
                        seen.insert(fragment.clone(), Some(n));
                        n
                    }
                }
            }
        })
        .fold(0, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str) -> bool {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check(&document).is_err()
    }

    #[test]
    fn one_login_is_fine_two_are_not() {
        assert!(!refused(
            "mutation { login(tenant: \"a\", email: \"b\", password: \"c\") { token } }"
        ));
        assert!(refused(
            "mutation { a: login(tenant: \"a\", email: \"b\", password: \"c\") { token } \
                        b: login(tenant: \"a\", email: \"b\", password: \"d\") { token } }"
        ));
    }

    #[test]
    fn fragments_and_skips_count_too() {
        assert!(refused(
            "mutation { ...F ... on Mutation { login(tenant: \"a\", email: \"b\", password: \"d\") { token } } }
             fragment F on Mutation { login(tenant: \"a\", email: \"b\", password: \"c\") { token } }"
        ));
        assert!(refused(
            "mutation { ...F ...F } fragment F on Mutation { login(tenant: \"a\", email: \"b\", password: \"c\") { token } }"
        ));
        assert!(refused(
            "mutation { a: login(tenant: \"a\", email: \"b\", password: \"c\") @skip(if: true) { token } \
                        b: login(tenant: \"a\", email: \"b\", password: \"d\") { token } }"
        ));
    }

    #[test]
    fn each_operation_counts_on_its_own_and_cycles_end() {
        assert!(!refused(
            "mutation A { login(tenant: \"a\", email: \"b\", password: \"c\") { token } }
             mutation B { login(tenant: \"a\", email: \"b\", password: \"d\") { token } }"
        ));
        assert!(refused("query { ...F } fragment F on Query { ...F }"));
        assert!(!refused("query { me { id } }"));
    }
}
