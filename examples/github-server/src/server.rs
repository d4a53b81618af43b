//! The MCP server itself: the reference article's GitHub-style tools over a
//! small, deterministic in-memory data set, one `repo://` resource per
//! repository and the `summarize_pr` prompt. It knows nothing about
//! authorization: the `PolicyLayer` in front of it decides every call and
//! filters every list. Handlers only *read* the principal the layer put in
//! the request extensions, to record who did what.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::request::Parts;
use mcp_policy_http::PrincipalExtension;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Extensions, GetPromptResult, Implementation, ListResourcesResult,
    PaginatedRequestParams, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData, RoleServer, ServerHandler, prompt, prompt_handler, prompt_router, schemars, tool,
    tool_handler, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};

// ---- the demo data ----

#[derive(Debug, Clone)]
struct Repo {
    owner: &'static str,
    name: &'static str,
    description: &'static str,
    language: &'static str,
    stars: u32,
    files: Vec<(&'static str, &'static str)>,
}

impl Repo {
    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn summary(&self) -> Value {
        json!({
            "name": self.full_name(),
            "description": self.description,
            "language": self.language,
            "stars": self.stars,
        })
    }
}

#[derive(Debug, Clone)]
struct Issue {
    repo: String,
    number: u64,
    title: String,
    body: String,
    open: bool,
    created_by: String,
    closed_by: Option<String>,
}

impl Issue {
    fn to_json(&self) -> Value {
        json!({
            "repo": self.repo,
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "state": if self.open { "open" } else { "closed" },
            "created_by": self.created_by,
            "closed_by": self.closed_by,
        })
    }
}

#[derive(Debug, Clone)]
struct PullRequest {
    repo: String,
    number: u64,
    title: String,
    head: String,
    base: String,
    draft: bool,
    author: String,
    changed_files: Vec<&'static str>,
}

/// Everything the tools read and write. Shared by every MCP session, reset
/// only by restarting the server.
#[derive(Debug)]
pub struct Store {
    repos: Vec<Repo>,
    users: Vec<(&'static str, &'static str)>,
    issues: Vec<Issue>,
    pulls: Vec<PullRequest>,
    records: BTreeMap<String, BTreeMap<String, String>>,
    outbox: Vec<Value>,
    secret_versions: BTreeMap<String, u32>,
    cache_entries: usize,
    next_number: u64,
}

const LIB_RS: &str = "pub fn parse(input: &str) -> Option<u32> {\n    if input.is_empty() {\n        return None;\n    }\n    match input.trim().parse() {\n        Ok(n) if n > 0 => Some(n),\n        _ => None,\n    }\n}\n";
const MAIN_GO: &str = "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tif i%2 == 0 {\n\t\t\tfmt.Println(\"gadget\", i)\n\t\t}\n\t}\n}\n";

impl Store {
    pub fn demo() -> Store {
        let repos = vec![
            Repo {
                owner: "acme",
                name: "widgets",
                description: "Widgets for every occasion",
                language: "Rust",
                stars: 128,
                files: vec![
                    ("README.md", "# widgets\n\nWidgets for every occasion.\n"),
                    ("src/lib.rs", LIB_RS),
                ],
            },
            Repo {
                owner: "acme",
                name: "gadgets",
                description: "Gadgets, written in Go",
                language: "Go",
                stars: 42,
                files: vec![
                    ("README.md", "# gadgets\n\nGadgets, written in Go.\n"),
                    ("main.go", MAIN_GO),
                ],
            },
            Repo {
                owner: "octo",
                name: "hello-world",
                description: "My first repository",
                language: "Markdown",
                stars: 7,
                files: vec![("README.md", "# hello-world\n\nHello, world!\n")],
            },
        ];
        let issue = |repo: &str, number, title: &str, open| Issue {
            repo: repo.to_owned(),
            number,
            title: title.to_owned(),
            body: String::new(),
            open,
            created_by: "alice".to_owned(),
            closed_by: None,
        };
        let mut records = BTreeMap::new();
        records.insert(
            "team-1".to_owned(),
            BTreeMap::from([
                ("name".to_owned(), "Platform".to_owned()),
                ("oncall".to_owned(), "alice".to_owned()),
            ]),
        );
        Store {
            repos,
            users: vec![
                ("alice", "Maintainer"),
                ("bob", "Contributor"),
                ("carol", "Reviewer"),
            ],
            issues: vec![
                issue("acme/widgets", 1, "Widgets wobble under load", true),
                issue("acme/widgets", 2, "Document the parse function", false),
                issue("acme/gadgets", 3, "Gadget counter skips odd numbers", true),
            ],
            pulls: vec![PullRequest {
                repo: "acme/widgets".to_owned(),
                number: 4,
                title: "Reject zero in parse".to_owned(),
                head: "fix-zero".to_owned(),
                base: "main".to_owned(),
                draft: false,
                author: "bob".to_owned(),
                changed_files: vec!["src/lib.rs"],
            }],
            records,
            outbox: Vec::new(),
            secret_versions: BTreeMap::new(),
            cache_entries: 17,
            next_number: 5,
        }
    }

    fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.full_name() == name)
    }

    fn take_number(&mut self) -> u64 {
        let number = self.next_number;
        self.next_number += 1;
        number
    }
}

// ---- tool parameters ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchRepos {
    /// Matched, without case, against the repository name and description.
    pub query: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct FileRef {
    /// `owner/name`
    pub repo: String,
    /// A path in the repository, e.g. `src/lib.rs`.
    pub path: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreatePrDraft {
    /// `owner/name`
    pub repo: String,
    pub title: String,
    /// The branch with the changes.
    pub head: String,
    /// The branch to merge into. Default: `main`.
    pub base: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreateIssue {
    /// `owner/name`
    pub repo: String,
    pub title: String,
    pub body: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListIssues {
    /// `owner/name`
    pub repo: String,
    /// `open`, `closed` or `all`. Default: `open`.
    pub state: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct IssueRef {
    /// `owner/name`
    pub repo: String,
    pub number: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UpdateRecord {
    /// The record id, e.g. `team-1`; a new id creates the record.
    pub id: String,
    pub field: String,
    pub value: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SendNotification {
    /// A user name.
    pub to: String,
    pub message: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RepoRef {
    /// `owner/name`
    pub repo: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SummarizePr {
    /// `owner/name`
    pub repo: String,
    pub number: u64,
}

// ---- the server ----

/// One per MCP session (rmcp's service factory makes them); all share the
/// store.
#[derive(Debug, Clone)]
pub struct GithubServer {
    store: Arc<Mutex<Store>>,
    tool_router: ToolRouter<GithubServer>,
    prompt_router: PromptRouter<GithubServer>,
}

fn ok(value: Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(value.to_string())])
}

fn fail(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Who is calling: the token's subject, from the principal the policy
/// layer verified (in the HTTP request's parts). Always there behind the
/// layer; "anonymous" otherwise, as over stdio, where the layer in front
/// (`mcp-policy proxy`) decides and no principal reaches this process.
fn caller(extensions: &Extensions) -> String {
    extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<PrincipalExtension>())
        .map_or_else(|| "anonymous".to_owned(), |p| p.subject.clone())
}

fn no_repo(repo: &str) -> CallToolResult {
    fail(format!("repository `{repo}` not found"))
}

impl GithubServer {
    pub fn new(store: Arc<Mutex<Store>>) -> GithubServer {
        GithubServer {
            store,
            tool_router: Self::tool_router(),
            prompt_router: Self::prompt_router(),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[tool_router]
impl GithubServer {
    #[tool(description = "Search repositories by name or description")]
    fn search_repos(&self, Parameters(args): Parameters<SearchRepos>) -> CallToolResult {
        let query = args.query.to_lowercase();
        let store = self.store();
        let hits: Vec<Value> = store
            .repos
            .iter()
            .filter(|r| {
                r.full_name().to_lowercase().contains(&query)
                    || r.description.to_lowercase().contains(&query)
            })
            .map(Repo::summary)
            .collect();
        ok(json!({ "total": hits.len(), "repos": hits }))
    }

    #[tool(description = "Read a file of a repository")]
    fn get_file_content(&self, Parameters(args): Parameters<FileRef>) -> CallToolResult {
        let store = self.store();
        let Some(repo) = store.repo(&args.repo) else {
            return no_repo(&args.repo);
        };
        match repo.files.iter().find(|(path, _)| *path == args.path) {
            Some((path, content)) => ok(json!({
                "repo": args.repo, "path": path, "size": content.len(), "content": content,
            })),
            None => fail(format!("no file `{}` in `{}`", args.path, args.repo)),
        }
    }

    #[tool(description = "List the organization's users")]
    fn list_users(&self) -> CallToolResult {
        let users: Vec<Value> = self
            .store()
            .users
            .iter()
            .map(|(login, role)| json!({ "login": login, "role": role }))
            .collect();
        ok(json!({ "users": users }))
    }

    #[tool(description = "Estimate the complexity of a file: lines and branch points")]
    fn analyze_complexity(&self, Parameters(args): Parameters<FileRef>) -> CallToolResult {
        let store = self.store();
        let Some(repo) = store.repo(&args.repo) else {
            return no_repo(&args.repo);
        };
        let Some((_, content)) = repo.files.iter().find(|(path, _)| *path == args.path) else {
            return fail(format!("no file `{}` in `{}`", args.path, args.repo));
        };
        let lines = content.lines().count();
        let branches: usize = content
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|word| matches!(*word, "if" | "match" | "for" | "while" | "case"))
            .count();
        ok(json!({
            "repo": args.repo, "path": args.path, "lines": lines,
            "branch_points": branches, "cyclomatic_estimate": branches + 1,
        }))
    }

    #[tool(description = "Open a draft pull request")]
    fn create_pr_draft(
        &self,
        Parameters(args): Parameters<CreatePrDraft>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        if store.repo(&args.repo).is_none() {
            return no_repo(&args.repo);
        }
        let pull = PullRequest {
            repo: args.repo,
            number: store.take_number(),
            title: args.title,
            head: args.head,
            base: args.base.unwrap_or_else(|| "main".to_owned()),
            draft: true,
            author: caller(&extensions),
            changed_files: Vec::new(),
        };
        let answer = json!({
            "repo": pull.repo, "number": pull.number, "title": pull.title,
            "head": pull.head, "base": pull.base, "draft": true, "author": pull.author,
        });
        store.pulls.push(pull);
        ok(answer)
    }

    #[tool(description = "Open an issue; the caller is recorded as its author")]
    fn create_issue(
        &self,
        Parameters(args): Parameters<CreateIssue>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        if store.repo(&args.repo).is_none() {
            return no_repo(&args.repo);
        }
        let issue = Issue {
            repo: args.repo,
            number: store.take_number(),
            title: args.title,
            body: args.body.unwrap_or_default(),
            open: true,
            created_by: caller(&extensions),
            closed_by: None,
        };
        let answer = issue.to_json();
        store.issues.push(issue);
        ok(answer)
    }

    #[tool(description = "List the issues of a repository")]
    fn list_issues(&self, Parameters(args): Parameters<ListIssues>) -> CallToolResult {
        let state = args.state.as_deref().unwrap_or("open");
        let wanted = |issue: &&Issue| match state {
            "all" => true,
            "closed" => !issue.open,
            _ => issue.open,
        };
        if !matches!(state, "open" | "closed" | "all") {
            return fail(format!("unknown state `{state}`: open, closed or all"));
        }
        let store = self.store();
        if store.repo(&args.repo).is_none() {
            return no_repo(&args.repo);
        }
        let issues: Vec<Value> = store
            .issues
            .iter()
            .filter(|i| i.repo == args.repo)
            .filter(wanted)
            .map(Issue::to_json)
            .collect();
        ok(json!({ "repo": args.repo, "state": state, "issues": issues }))
    }

    #[tool(description = "Close an issue; the caller is recorded")]
    fn close_issue(
        &self,
        Parameters(args): Parameters<IssueRef>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        let Some(issue) = store
            .issues
            .iter_mut()
            .find(|i| i.repo == args.repo && i.number == args.number)
        else {
            return fail(format!("no issue #{} in `{}`", args.number, args.repo));
        };
        if !issue.open {
            return fail(format!("issue #{} is already closed", args.number));
        }
        issue.open = false;
        issue.closed_by = Some(caller(&extensions));
        ok(issue.to_json())
    }

    #[tool(description = "Set a field of an internal record")]
    fn update_record(
        &self,
        Parameters(args): Parameters<UpdateRecord>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        let record = store.records.entry(args.id.clone()).or_default();
        let previous = record.insert(args.field.clone(), args.value);
        record.insert("updated_by".to_owned(), caller(&extensions));
        ok(json!({ "id": args.id, "field": args.field, "previous": previous, "record": record }))
    }

    #[tool(description = "Send a notification to a user (queued in memory)")]
    fn send_notification(
        &self,
        Parameters(args): Parameters<SendNotification>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        if !store.users.iter().any(|(login, _)| *login == args.to) {
            return fail(format!("no user `{}`", args.to));
        }
        let note = json!({
            "id": store.outbox.len() + 1, "to": args.to,
            "from": caller(&extensions), "message": args.message,
        });
        store.outbox.push(note.clone());
        ok(json!({ "queued": note }))
    }

    #[tool(description = "Delete a repository (destructive)")]
    fn delete_repo(
        &self,
        Parameters(args): Parameters<RepoRef>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        let before = store.repos.len();
        store.repos.retain(|r| r.full_name() != args.repo);
        if store.repos.len() == before {
            return no_repo(&args.repo);
        }
        ok(json!({ "deleted": args.repo, "by": caller(&extensions) }))
    }

    #[tool(description = "Rotate a repository's deployment secrets (destructive)")]
    fn rotate_secrets(
        &self,
        Parameters(args): Parameters<RepoRef>,
        extensions: Extensions,
    ) -> CallToolResult {
        let mut store = self.store();
        if store.repo(&args.repo).is_none() {
            return no_repo(&args.repo);
        }
        let version = store.secret_versions.entry(args.repo.clone()).or_insert(1);
        *version += 1;
        ok(json!({ "repo": args.repo, "secrets_version": *version, "by": caller(&extensions) }))
    }

    #[tool(description = "Purge the server's caches (destructive)")]
    fn purge_cache(&self, extensions: Extensions) -> CallToolResult {
        let mut store = self.store();
        let purged = std::mem::take(&mut store.cache_entries);
        ok(json!({ "purged_entries": purged, "by": caller(&extensions) }))
    }
}

#[prompt_router]
impl GithubServer {
    #[prompt(description = "Summarize a pull request for a reviewer")]
    fn summarize_pr(
        &self,
        Parameters(args): Parameters<SummarizePr>,
    ) -> Result<GetPromptResult, ErrorData> {
        let store = self.store();
        let Some(pull) = store
            .pulls
            .iter()
            .find(|p| p.repo == args.repo && p.number == args.number)
        else {
            return Err(ErrorData::invalid_params(
                format!("no pull request #{} in `{}`", args.number, args.repo),
                None,
            ));
        };
        let text = format!(
            "Summarize pull request #{} \"{}\" in {} by {} ({} -> {}{}). Changed files: {}. \
             Say what it changes, what could break, and what to test.",
            pull.number,
            pull.title,
            pull.repo,
            pull.author,
            pull.head,
            pull.base,
            if pull.draft { ", draft" } else { "" },
            if pull.changed_files.is_empty() {
                "none yet".to_owned()
            } else {
                pull.changed_files.join(", ")
            },
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!("Summary of {}#{}", pull.repo, pull.number)),
        )
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for GithubServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "github-mcp-example",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "A demo GitHub-style MCP server with in-memory data. What you may call depends on \
             your token's scopes (examples/github.mcppolicy).",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = self
            .store()
            .repos
            .iter()
            .map(|r| {
                Resource::new(format!("repo://{}", r.full_name()), r.full_name())
                    .with_description(r.description)
                    .with_mime_type("application/json")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let store = self.store();
        let repo = request
            .uri
            .strip_prefix("repo://")
            .and_then(|name| store.repo(name));
        let Some(repo) = repo else {
            return Err(ErrorData::resource_not_found(
                format!("no resource at {}", request.uri),
                None,
            ));
        };
        let files: Vec<&str> = repo.files.iter().map(|(path, _)| *path).collect();
        let mut summary = repo.summary();
        if let Some(object) = summary.as_object_mut() {
            object.insert("files".to_owned(), json!(files));
        }
        Ok(ReadResourceResult::new(vec![ResourceContents::text(
            summary.to_string(),
            request.uri,
        )])
        .into())
    }
}
