use chrono::Utc;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::ids::MemberId;
use crate::spaces::Blob;

type Given = TestFramework<Space>;

fn id(n: u128) -> NodeId {
    NodeId::from_uuid(Uuid::from_u128(n))
}

const ROOT: u128 = 1;

fn name(s: &str) -> NodeName {
    s.parse().expect("name")
}

fn blob(size: u64) -> Blob {
    Blob {
        sha256: "a".repeat(64),
        size,
        media_type: "application/octet-stream".into(),
    }
}

fn created() -> SpaceEvent {
    SpaceEvent::SpaceCreated {
        tenant_id: TenantId::from_uuid(Uuid::from_u128(7)),
        owner: SpaceOwner::Member(MemberId::from_uuid(Uuid::from_u128(8))),
        root: id(ROOT),
    }
}

fn folder(n: u128, parent: u128, called: &str) -> SpaceEvent {
    SpaceEvent::FolderCreated {
        node_id: id(n),
        parent: id(parent),
        name: name(called),
    }
}

fn file(n: u128, parent: u128, called: &str, size: u64) -> SpaceEvent {
    SpaceEvent::FileUploaded {
        node_id: id(n),
        parent: id(parent),
        name: name(called),
        blob: blob(size),
    }
}

/// results/ (2) with scan.nii (3, 100 bytes) and run/ (4) holding out.nii (5, 50 bytes)
fn tree() -> Vec<SpaceEvent> {
    vec![
        created(),
        folder(2, ROOT, "results"),
        file(3, 2, "scan.nii", 100),
        folder(4, 2, "run"),
        file(5, 4, "out.nii", 50),
    ]
}

fn space(history: Vec<SpaceEvent>) -> Space {
    let mut space = Space::default();
    for e in history {
        space.apply(e);
    }
    space
}

fn used(space: &Space) -> u64 {
    space.state.as_ref().map_or(0, |s| s.used)
}

#[test]
fn names_are_unique_in_a_folder_outside_the_trash() {
    Given::with(())
        .given(tree())
        .when(SpaceCommand::UploadFile {
            node_id: id(9),
            parent: id(2),
            name: name("scan.nii"),
            blob: blob(1),
        })
        .then_expect_error(SpaceError::NameTaken);
    let mut history = tree();
    history.push(SpaceEvent::NodeTrashed {
        node_id: id(3),
        at: Utc::now(),
    });
    Given::with(())
        .given(history)
        .when(SpaceCommand::UploadFile {
            node_id: id(9),
            parent: id(2),
            name: name("scan.nii"),
            blob: blob(1),
        })
        .then_expect_events(vec![file(9, 2, "scan.nii", 1)]);
}

#[test]
fn a_folder_cannot_move_or_copy_into_itself() {
    for target in [2, 4] {
        Given::with(())
            .given(tree())
            .when(SpaceCommand::Move {
                node_id: id(2),
                parent: id(target),
            })
            .then_expect_error(SpaceError::IntoItself);
        Given::with(())
            .given(tree())
            .when(SpaceCommand::Copy {
                node_id: id(9),
                source: id(2),
                parent: id(target),
                name: None,
            })
            .then_expect_error(SpaceError::IntoItself);
    }
    Given::with(())
        .given(tree())
        .when(SpaceCommand::Move {
            node_id: id(5),
            parent: id(3),
        })
        .then_expect_error(SpaceError::NotAFolder);
}

#[test]
fn the_root_stays_put() {
    for command in [
        SpaceCommand::Rename {
            node_id: id(ROOT),
            name: name("x"),
        },
        SpaceCommand::Trash {
            node_id: id(ROOT),
            at: Utc::now(),
        },
        SpaceCommand::Move {
            node_id: id(ROOT),
            parent: id(2),
        },
    ] {
        Given::with(())
            .given(tree())
            .when(command)
            .then_expect_error(SpaceError::RootIsFixed);
    }
}

#[test]
fn uploads_and_copies_respect_the_quota() {
    let mut history = tree();
    history.push(SpaceEvent::QuotaSet { bytes: Some(200) });
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::UploadFile {
            node_id: id(9),
            parent: id(ROOT),
            name: name("big"),
            blob: blob(51),
        })
        .then_expect_error(SpaceError::QuotaExceeded {
            needed: 51,
            available: 50,
        });
    // copying results/ would add 150 bytes
    Given::with(())
        .given(history)
        .when(SpaceCommand::Copy {
            node_id: id(9),
            source: id(2),
            parent: id(ROOT),
            name: Some(name("results copy")),
        })
        .then_expect_error(SpaceError::QuotaExceeded {
            needed: 150,
            available: 50,
        });
}

#[test]
fn a_copied_folder_brings_what_is_in_it_with_stable_ids() {
    let mut history = tree();
    history.push(SpaceEvent::NodeCopied {
        node_id: id(9),
        source: id(2),
        parent: id(ROOT),
        name: name("again"),
    });
    let copied = space(history.clone());
    assert_eq!(used(&copied), 300);
    let inner_run = NodeId::copied(id(9), id(4));
    let state = copied.state.as_ref().expect("state");
    assert_eq!(state.nodes[&inner_run].parent, Some(id(9)));
    assert_eq!(
        state.nodes[&NodeId::copied(id(9), id(5))].parent,
        Some(inner_run)
    );
    // replaying gives the same space
    assert_eq!(space(history), copied);
}

#[test]
fn trash_restore_and_purge() {
    let at = Utc::now();
    let mut history = tree();
    history.push(SpaceEvent::NodeTrashed { node_id: id(2), at });
    // what is inside a trashed folder is in the trash too
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::Rename {
            node_id: id(5),
            name: name("x"),
        })
        .then_expect_error(SpaceError::InTrash);
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::Restore { node_id: id(2) })
        .then_expect_events(vec![SpaceEvent::NodeRestored { node_id: id(2) }]);
    // out.nii was not trashed itself: restore its folder instead
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::Restore { node_id: id(5) })
        .then_expect_error(SpaceError::NotInTrash);
    Given::with(())
        .given(tree())
        .when(SpaceCommand::Purge { node_id: id(3) })
        .then_expect_error(SpaceError::NotInTrash);
    history.push(SpaceEvent::NodePurged { node_id: id(2) });
    let purged = space(history);
    assert_eq!(used(&purged), 0, "purging frees the bytes");
    assert_eq!(purged.state.as_ref().map(|s| s.nodes.len()), Some(1));
}

#[test]
fn a_restore_needs_its_folder_and_its_name() {
    let at = Utc::now();
    let mut history = tree();
    history.push(SpaceEvent::NodeTrashed { node_id: id(5), at });
    history.push(SpaceEvent::NodeTrashed { node_id: id(4), at });
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::Restore { node_id: id(5) })
        .then_expect_error(SpaceError::ParentGone);
    let mut history = tree();
    history.push(SpaceEvent::NodeTrashed { node_id: id(3), at });
    history.push(file(9, 2, "scan.nii", 1));
    Given::with(())
        .given(history)
        .when(SpaceCommand::Restore { node_id: id(3) })
        .then_expect_error(SpaceError::NameTaken);
}

#[test]
fn only_folders_are_shared_and_unshared_once() {
    let group = Grantee::Group(crate::ids::GroupId::from_uuid(Uuid::from_u128(9)));
    Given::with(())
        .given(tree())
        .when(SpaceCommand::Share {
            node_id: id(3),
            with: group,
            access: Access::Read,
        })
        .then_expect_error(SpaceError::ShareOnlyFolders);
    let shared = SpaceEvent::FolderShared {
        node_id: id(2),
        with: group,
        access: Access::Read,
    };
    let mut history = tree();
    history.push(shared.clone());
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::Share {
            node_id: id(2),
            with: group,
            access: Access::Read,
        })
        .then_expect_events(vec![]);
    history.push(SpaceEvent::FolderUnshared {
        node_id: id(2),
        with: group,
    });
    Given::with(())
        .given(history)
        .when(SpaceCommand::Unshare {
            node_id: id(2),
            with: group,
        })
        .then_expect_error(SpaceError::NotShared);
}

#[test]
fn a_bad_blob_and_a_missing_space_are_refused() {
    let mut bad = blob(1);
    bad.sha256 = "../../etc/passwd".into();
    Given::with(())
        .given(tree())
        .when(SpaceCommand::UploadFile {
            node_id: id(9),
            parent: id(2),
            name: name("x"),
            blob: bad,
        })
        .then_expect_error(SpaceError::InvalidBlob);
    Given::with(())
        .given_no_previous_events()
        .when(SpaceCommand::SetQuota(Some(1)))
        .then_expect_error(SpaceError::NotFound);
}

#[test]
fn a_job_output_is_kept_past_the_quota_and_saved_once() {
    let mut history = tree();
    history.push(SpaceEvent::QuotaSet { bytes: Some(160) });
    let output = || SpaceCommand::SaveOutput {
        node_id: id(9),
        parent: id(4),
        name: name("result.nii"),
        blob: blob(500),
    };
    // an upload of the same size is refused, the output is not
    Given::with(())
        .given(history.clone())
        .when(SpaceCommand::UploadFile {
            node_id: id(9),
            parent: id(4),
            name: name("result.nii"),
            blob: blob(500),
        })
        .then_expect_error(SpaceError::QuotaExceeded {
            needed: 500,
            available: 10,
        });
    Given::with(())
        .given(history.clone())
        .when(output())
        .then_expect_events(vec![file(9, 4, "result.nii", 500)]);
    // the archiver retrying after a crash changes nothing
    history.push(file(9, 4, "result.nii", 500));
    Given::with(())
        .given(history.clone())
        .when(output())
        .then_expect_events(vec![]);
    // another output under a taken id is refused
    Given::with(())
        .given(history)
        .when(SpaceCommand::SaveOutput {
            node_id: id(9),
            parent: id(4),
            name: name("other.nii"),
            blob: blob(5),
        })
        .then_expect_error(SpaceError::AlreadyExists);
}
