//! Spaces: homes and group spaces, folders and files, transfers over HTTP, trash,
//! sharing, quotas, and contents stored once and freed when nothing refers to them.

use std::time::Duration;

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SPACE: &str = "query($p: String!) { space(path: $p) { path places node { id name kind path size sha256 mediaType access createdBy }
    children(first: 50) { edges { node { id name kind size } } } trash { id name } } }";
const CREATE_FOLDER: &str =
    "mutation($p: ID!, $n: String!) { createFolder(parentId: $p, name: $n) { id name path } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id name kind path size sha256 mediaType inTrash access quota { used limit } } }";

pub(crate) async fn space(app: &TestApp, token: &str, path: &str) -> Value {
    app.ok(token, SPACE, json!({"p": path})).await["space"].clone()
}

async fn home_id(app: &TestApp, token: &str) -> String {
    space(app, token, "/home").await["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn folder(app: &TestApp, token: &str, parent: &str, name: &str) -> String {
    let data = app
        .ok(token, CREATE_FOLDER, json!({"p": parent, "n": name}))
        .await;
    data["createFolder"]["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    parent: &str,
    name: &str,
    bytes: &[u8],
) -> String {
    let (status, body) = app.upload(token, parent, name, bytes.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) fn names(listing: &Value) -> Vec<String> {
    listing["children"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn mutate(app: &TestApp, token: &str, field: &str, args: &str, vars: Value) -> Value {
    let query = format!("mutation($id: ID!{args}) {{ {field} {{ id name path inTrash }} }}");
    app.ok(token, &query, vars).await
}

/// Waits (bounded) until the blob store keeps `n` contents, on disk and in its books.
pub(crate) async fn wait_for_blobs(app: &TestApp, n: i64) {
    let mut seen = (0, 0);
    for _ in 0..150 {
        seen = app.blob_count().await;
        if seen == (n, usize::try_from(n).unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} blobs, the store keeps {seen:?}");
}

/// A home with a folder tree, a file uploaded, copied, shared, trashed and restored,
/// another purged, and a quota: rows in every spaces table for the rebuild test.
pub async fn populate(app: &TestApp, token: &str, group: &str) {
    let home = home_id(app, token).await;
    let scans = folder(app, token, &home, "scans").await;
    let file = upload(app, token, &scans, "t1.nii", b"voxels").await;
    let copy = app
        .ok(
            token,
            "mutation($id: ID!, $p: ID!) { copyNode(id: $id, parentId: $p, name: \"scans copy\") { id } }",
            json!({"id": scans, "p": home}),
        )
        .await;
    assert!(copy["copyNode"]["id"].is_string());
    app.ok(
        token,
        "mutation($id: ID!, $g: ID!) { shareFolder(id: $id, with: {groupId: $g}, access: READ) { id } }",
        json!({"id": scans, "g": group}),
    )
    .await;
    mutate(app, token, "deleteNode(id: $id)", "", json!({"id": file})).await;
    mutate(app, token, "restoreNode(id: $id)", "", json!({"id": file})).await;
    let gone = upload(app, token, &home, "gone.txt", b"bye").await;
    mutate(app, token, "deleteNode(id: $id)", "", json!({"id": gone})).await;
    app.ok(
        token,
        "mutation($id: ID!) { purgeNode(id: $id) }",
        json!({"id": gone}),
    )
    .await;
}

#[tokio::test]
async fn a_member_builds_a_tree_and_moves_files_over_http() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (member, token) = app.member("acme", "ann@acme.org", &[]).await;

    let top = space(&app, &token, "/").await;
    assert_eq!(top["places"], json!(["/home", "/groups", "/shared"]));
    let home = space(&app, &token, "/home").await;
    assert_eq!(home["path"], "/home");
    assert_eq!(home["node"]["access"], "MANAGE");
    let root = home["node"]["id"].as_str().unwrap().to_owned();

    let scans = folder(&app, &token, &root, "scans").await;
    let results = folder(&app, &token, &root, "résultats").await;
    let content = b"PET volume \x00\x01\x02 bytes".repeat(1000);
    let file = upload(&app, &token, &scans, "brain ü.nii", &content).await;
    let node = app.ok(&token, NODE, json!({"id": file})).await["node"].clone();
    assert_eq!(node["path"], "/home/scans/brain ü.nii");
    assert_eq!(node["size"], json!(content.len() as f64));
    assert_eq!(node["sha256"], hex(&Sha256::digest(&content)));
    assert_eq!(node["mediaType"], "application/x-nifti");
    let listed = space(&app, &token, "/home/scans").await;
    assert_eq!(listed["node"]["createdBy"], member.to_string());
    assert_eq!(names(&listed), ["brain ü.nii"]);
    let by_path = space(&app, &token, "/home/scans/brain ü.nii").await;
    assert_eq!(by_path["node"]["createdBy"], member.to_string());

    // download: whole, ranges, names that survive the header
    let whole = app.download(&token, &file, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let disposition = whole.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("filename*=UTF-8''brain%20%C3%BC.nii"),
        "{disposition}"
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &content[..]);
    let part = app.download(&token, &file, Some("bytes=5-10")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 5-10/{}", content.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &content[5..11]);
    let tail = app.download(&token, &file, Some("bytes=-4")).await;
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &content[content.len() - 4..]
    );
    let wrong = app.download(&token, &file, Some("bytes=999999-")).await;
    assert_eq!(wrong.status(), 416);

    // rename, move, copy, listing order and paging
    mutate(
        &app,
        &token,
        "renameNode(id: $id, name: $n)",
        ", $n: String!",
        json!({"id": file, "n": "brain.nii"}),
    )
    .await;
    let moved = mutate(
        &app,
        &token,
        "moveNode(id: $id, parentId: $p)",
        ", $p: ID!",
        json!({"id": file, "p": results}),
    )
    .await;
    assert_eq!(moved["moveNode"]["path"], "/home/résultats/brain.nii");
    upload(&app, &token, &results, "a.csv", b"1,2\n").await;
    let copied = app
        .ok(
            &token,
            "mutation($id: ID!, $p: ID!) { copyNode(id: $id, parentId: $p) { id path } }",
            json!({"id": results, "p": scans}),
        )
        .await;
    assert_eq!(copied["copyNode"]["path"], "/home/scans/résultats");
    let inner = space(&app, &token, "/home/scans/résultats").await;
    assert_eq!(names(&inner), ["a.csv", "brain.nii"]);
    let by_size = app
        .ok(
            &token,
            "query { space(path: \"/home/résultats\") { children(first: 1, orderBy: SIZE, descending: true) { edges { node { name } cursor } pageInfo { hasNextPage } } } }",
            json!({}),
        )
        .await;
    let page = &by_size["space"]["children"];
    assert_eq!(page["edges"][0]["node"]["name"], "brain.nii");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = page["edges"][0]["cursor"].as_str().unwrap();
    let next = app
        .ok(
            &token,
            "query($c: String!) { space(path: \"/home/résultats\") { children(first: 1, after: $c, orderBy: SIZE, descending: true) { edges { node { name } } pageInfo { hasNextPage } } } }",
            json!({"c": cursor}),
        )
        .await;
    assert_eq!(
        next["space"]["children"]["edges"][0]["node"]["name"],
        "a.csv"
    );
    assert_eq!(next["space"]["children"]["pageInfo"]["hasNextPage"], false);

    // trash: delete, see it there, restore; purge frees the space and, once nothing
    // refers to the content, the blob
    mutate(
        &app,
        &token,
        "deleteNode(id: $id)",
        "",
        json!({"id": results}),
    )
    .await;
    let after = space(&app, &token, "/home").await;
    assert_eq!(names(&after), ["scans"]);
    assert_eq!(after["trash"][0]["name"], "résultats");
    let gone = app.download(&token, &file, None).await;
    assert_eq!(gone.status(), 409, "a file in the trash is not served");
    mutate(
        &app,
        &token,
        "restoreNode(id: $id)",
        "",
        json!({"id": results}),
    )
    .await;
    assert_eq!(
        names(&space(&app, &token, "/home").await),
        ["résultats", "scans"]
    );
    wait_for_blobs(&app, 2).await;
    for id in [
        &results,
        &copied["copyNode"]["id"].as_str().unwrap().to_owned(),
    ] {
        mutate(&app, &token, "deleteNode(id: $id)", "", json!({"id": id})).await;
        app.ok(
            &token,
            "mutation($id: ID!) { purgeNode(id: $id) }",
            json!({"id": id}),
        )
        .await;
    }
    let quota = app.ok(&token, NODE, json!({"id": root})).await;
    assert_eq!(quota["node"]["quota"]["used"], json!(0.0));
    wait_for_blobs(&app, 0).await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn identical_content_is_stored_once_and_freed_when_nothing_refers_to_it() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let a = upload(
        &app,
        &ann,
        &home_id(&app, &ann).await,
        "x.dcm",
        b"same bytes",
    )
    .await;
    let b = upload(
        &app,
        &bob,
        &home_id(&app, &bob).await,
        "y.dcm",
        b"same bytes",
    )
    .await;
    wait_for_blobs(&app, 1).await;
    mutate(&app, &ann, "deleteNode(id: $id)", "", json!({"id": a})).await;
    app.ok(
        &ann,
        "mutation($id: ID!) { purgeNode(id: $id) }",
        json!({"id": a}),
    )
    .await;
    // bob's file still refers to it: a sweep leaves it
    assert_eq!(app.core.contents.sweep().await.unwrap(), 0);
    wait_for_blobs(&app, 1).await;
    let still = app.download(&bob, &b, None).await;
    assert_eq!(still.bytes().await.unwrap().as_ref(), b"same bytes");
    mutate(&app, &bob, "deleteNode(id: $id)", "", json!({"id": b})).await;
    app.ok(
        &bob,
        "mutation($id: ID!) { purgeNode(id: $id) }",
        json!({"id": b}),
    )
    .await;
    wait_for_blobs(&app, 0).await;
}

/// Tenant `acme`: an admin, ann, bob in group `name`, carl in no group.
struct Lab {
    admin: String,
    ann: String,
    bob: (medgrid_domain::ids::MemberId, String),
    carl: String,
    group: String,
}

async fn lab(app: &TestApp, name: &str) -> Lab {
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let bob = app.member("acme", "bob@acme.org", &[]).await;
    let (_, carl) = app.member("acme", "carl@acme.org", &[]).await;
    let created = app
        .ok(
            &admin,
            "mutation($n: String!) { createGroup(name: $n) { id } }",
            json!({"n": name}),
        )
        .await;
    let group = created["createGroup"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &admin,
        "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m, role: MEMBER) { id } }",
        json!({"g": group, "m": bob.0.to_string()}),
    )
    .await;
    Lab {
        admin,
        ann,
        bob,
        carl,
        group,
    }
}

#[tokio::test]
async fn sharing_lends_access_and_revoking_takes_it_back_at_once() {
    let app = TestApp::spawn().await;
    let Lab {
        admin,
        ann,
        bob: (bob_id, bob),
        carl,
        group,
    } = lab(&app, "MRI").await;
    let home = home_id(&app, &ann).await;
    let study = folder(&app, &ann, &home, "study").await;
    let file = upload(&app, &ann, &study, "t1.nii", b"t1").await;

    // nobody else sees ann's home, not even by id
    assert_eq!(
        app.code(Some(&bob), NODE, json!({"id": file})).await,
        "NOT_FOUND"
    );
    assert_eq!(app.download(&bob, &file, None).await.status(), 404);
    assert_eq!(
        app.code(Some(&admin), NODE, json!({"id": file})).await,
        "NOT_FOUND"
    );

    let share = "mutation($id: ID!, $w: GranteeInput!, $a: ShareAccess!) { shareFolder(id: $id, with: $w, access: $a) { id } }";
    app.ok(
        &ann,
        share,
        json!({"id": study, "w": {"groupId": group}, "a": "READ"}),
    )
    .await;
    let shared = space(&app, &bob, "/shared").await;
    assert_eq!(shared["places"], json!(["/shared/study"]));
    assert_eq!(names(&shared), ["study"]);
    let inside = space(&app, &bob, "/shared/study/t1.nii").await;
    assert_eq!(inside["node"]["access"], "READ");
    assert_eq!(inside["node"]["path"], "/shared/study/t1.nii");
    assert_eq!(app.download(&bob, &file, None).await.status(), 200);
    let (status, body) = app.upload(&bob, &study, "mine.txt", b"x".to_vec()).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    assert_eq!(
        app.code(Some(&bob), CREATE_FOLDER, json!({"p": study, "n": "x"}))
            .await,
        "FORBIDDEN"
    );
    // carl is in no group: still nothing
    assert_eq!(
        app.code(Some(&carl), NODE, json!({"id": file})).await,
        "NOT_FOUND"
    );
    // a reader cannot share further
    assert_eq!(
        app.code(
            Some(&bob),
            share,
            json!({"id": study, "w": {"memberId": bob_id.to_string()}, "a": "READ_WRITE"})
        )
        .await,
        "FORBIDDEN"
    );

    // read-write for bob himself: he adds a file
    app.ok(
        &ann,
        share,
        json!({"id": study, "w": {"memberId": bob_id.to_string()}, "a": "READ_WRITE"}),
    )
    .await;
    upload(&app, &bob, &study, "mine.txt", b"x").await;
    let listed = space(&app, &ann, "/home/study").await;
    assert_eq!(names(&listed), ["mine.txt", "t1.nii"]);
    let shares = app
        .ok(
            &ann,
            "query($id: ID!) { node(id: $id) { shares { granteeKind granteeId access } } }",
            json!({"id": study}),
        )
        .await;
    assert_eq!(shares["node"]["shares"].as_array().unwrap().len(), 2);

    // revoked: gone at once, for both shares
    let unshare =
        "mutation($id: ID!, $w: GranteeInput!) { unshareFolder(id: $id, with: $w) { id } }";
    app.ok(&ann, unshare, json!({"id": study, "w": {"groupId": group}}))
        .await;
    app.ok(
        &ann,
        unshare,
        json!({"id": study, "w": {"memberId": bob_id.to_string()}}),
    )
    .await;
    assert_eq!(
        app.code(Some(&bob), NODE, json!({"id": file})).await,
        "NOT_FOUND"
    );
    assert_eq!(app.download(&bob, &file, None).await.status(), 404);
    assert_eq!(space(&app, &bob, "/shared").await["places"], json!([]));
}

#[tokio::test]
async fn group_spaces_belong_to_their_members_and_quotas_hold() {
    let app = TestApp::spawn().await;
    let Lab {
        admin,
        bob: (bob_id, bob),
        carl,
        group,
        ..
    } = lab(&app, "PET lab").await;
    let groups = space(&app, &bob, "/groups").await;
    assert_eq!(groups["places"], json!(["/groups/PET lab"]));
    let lab = space(&app, &bob, "/groups/PET lab").await;
    assert_eq!(lab["node"]["access"], "READ_WRITE");
    let root = lab["node"]["id"].as_str().unwrap().to_owned();
    upload(&app, &bob, &root, "dose.csv", b"0.1,0.2").await;
    assert_eq!(
        app.code(Some(&carl), SPACE, json!({"p": "/groups/PET lab"}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(Some(&carl), NODE, json!({"id": root})).await,
        "NOT_FOUND"
    );

    // quotas: only tenant admins set them; uploads past them are refused whole
    let set = "mutation($o: GranteeInput!, $b: Float) { setSpaceQuota(owner: $o, bytes: $b) { used limit } }";
    assert_eq!(
        app.code(
            Some(&bob),
            set,
            json!({"o": {"groupId": group}, "b": 100.0})
        )
        .await,
        "FORBIDDEN"
    );
    let quota = app
        .ok(&admin, set, json!({"o": {"groupId": group}, "b": 100.0}))
        .await;
    assert_eq!(quota["setSpaceQuota"], json!({"used": 7.0, "limit": 100.0}));
    let events = app.event_count().await;
    let (status, body) = app.upload(&bob, &root, "big.bin", vec![1u8; 94]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "QUOTA_EXCEEDED");
    assert_eq!(app.event_count().await, events, "nothing recorded");
    wait_for_blobs(&app, 1).await;
    upload(&app, &bob, &root, "fits.bin", &[2u8; 93]).await;
    let (status, _) = app.upload(&bob, &root, "one more.bin", vec![3u8; 1]).await;
    assert_eq!(status, 413);
    // the home quota is the member's own
    let home = app
        .ok(
            &admin,
            set,
            json!({"o": {"memberId": bob_id.to_string()}, "b": 10.0}),
        )
        .await;
    assert_eq!(home["setSpaceQuota"]["limit"], 10.0);
    let (status, _) = app
        .upload(&bob, &home_id(&app, &bob).await, "x.bin", vec![0u8; 11])
        .await;
    assert_eq!(status, 413);
    assert_eq!(
        app.code(
            Some(&admin),
            set,
            json!({"o": {"groupId": group}, "b": -1.0})
        )
        .await,
        "INVALID_INPUT"
    );
}

#[tokio::test]
async fn bad_paths_names_and_moves_are_refused_and_nothing_changes() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("evil").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (_, mallory) = app.member("evil", "mallory@evil.org", &[]).await;
    let root = home_id(&app, &ann).await;
    let a = folder(&app, &ann, &root, "a").await;
    let b = folder(&app, &ann, &a, "b").await;
    let file = upload(&app, &ann, &a, "f.txt", b"data").await;
    let events = app.event_count().await;

    for path in [
        "/home/../etc",
        "home",
        "/home/a\u{0}b",
        "/home//a",
        "/nowhere",
        "/home/a/./b",
    ] {
        let code = app.code(Some(&ann), SPACE, json!({"p": path})).await;
        assert!(code == "INVALID_INPUT", "{path:?}: {code}");
    }
    for name in [
        "..",
        ".",
        "a/b",
        "a\\b",
        "nul\u{0}",
        "tab\there",
        " lead",
        &"x".repeat(256),
    ] {
        let code = app
            .code(Some(&ann), CREATE_FOLDER, json!({"p": root, "n": name}))
            .await;
        assert_eq!(code, "INVALID_INPUT", "{name:?}");
        let (status, _) = app.upload(&ann, &root, name, b"x".to_vec()).await;
        assert_eq!(status, 400, "{name:?}");
    }
    let mv = "mutation($id: ID!, $p: ID!) { moveNode(id: $id, parentId: $p) { id } }";
    assert_eq!(
        app.code(Some(&ann), mv, json!({"id": a, "p": b})).await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(Some(&ann), mv, json!({"id": a, "p": a})).await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(Some(&ann), mv, json!({"id": b, "p": file})).await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(Some(&ann), CREATE_FOLDER, json!({"p": root, "n": "a"}))
            .await,
        "CONFLICT"
    );
    let (status, body) = app.upload(&ann, &a, "f.txt", b"other".to_vec()).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
    assert_eq!(
        app.code(
            Some(&ann),
            "mutation($id: ID!) { deleteNode(id: $id) { id } }",
            json!({"id": root})
        )
        .await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(
            Some(&ann),
            "mutation($id: ID!) { purgeNode(id: $id) }",
            json!({"id": file})
        )
        .await,
        "CONFLICT",
        "only what is in the trash is purged"
    );
    // another tenant guessing ids learns nothing
    assert_eq!(
        app.code(Some(&mallory), NODE, json!({"id": file})).await,
        "NOT_FOUND"
    );
    assert_eq!(app.download(&mallory, &file, None).await.status(), 404);
    let (status, _) = app.upload(&mallory, &a, "x", b"x".to_vec()).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.code(Some(&mallory), NODE, json!({"id": "not-a-uuid"}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(app.event_count().await, events, "nothing was written");
    let listed = space(&app, &ann, "/home/a").await;
    assert_eq!(names(&listed), ["b", "f.txt"]);
    wait_for_blobs(&app, 1).await;
}

#[tokio::test]
async fn an_upload_that_stops_halfway_leaves_nothing_behind() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let root = home_id(&app, &ann).await;
    let events = app.event_count().await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /files/upload?parent={root}&name=half.bin HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {ann}\r\nContent-Length: 10000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![5u8; 300_000]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = vec![];
    let _ = stream.read_to_end(&mut answer).await;
    drop(stream);
    // the server notices, stores nothing and records nothing
    wait_for_blobs(&app, 0).await;
    assert_eq!(app.event_count().await, events);
    assert_eq!(
        names(&space(&app, &ann, "/home").await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn what_outstays_the_trash_retention_is_purged_and_its_content_freed() {
    let mut config = medgrid_tests::test_config();
    config.trash_retention_hours = 0;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let root = home_id(&app, &ann).await;
    let kept = upload(&app, &ann, &root, "kept.txt", b"kept").await;
    let old = upload(&app, &ann, &root, "old.txt", b"old").await;
    wait_for_blobs(&app, 2).await;
    mutate(&app, &ann, "deleteNode(id: $id)", "", json!({"id": old})).await;
    // the housekeeping purges it (a system-caused event) and the sweep frees its content
    wait_for_blobs(&app, 1).await;
    assert_eq!(
        app.code(Some(&ann), NODE, json!({"id": old})).await,
        "NOT_FOUND"
    );
    assert!(
        space(&app, &ann, "/home").await["trash"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let causer: String =
        sqlx::query_scalar("SELECT metadata->>'actor' FROM events WHERE event_type = 'NodePurged'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(causer, "system:trash-retention");
    assert_eq!(app.download(&ann, &kept, None).await.status(), 200);
}
