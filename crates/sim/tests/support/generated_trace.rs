//! A generated trace for the replay-memory measurements: the same mix, line
//! for line, in the test (`replay_memory.rs`) and in the example that writes
//! it to a file for the release binary (`examples/generate_trace.rs`).
#![allow(dead_code, clippy::indexing_slicing)]

use std::io::Read;

/// Every tool of the example, names its globs decide, and one it does not know.
pub const TOOLS: [&str; 17] = [
    "search_repos",
    "get_file_content",
    "list_users",
    "analyze_complexity",
    "create_pr_draft",
    "create_issue",
    "list_issues",
    "close_issue",
    "update_record",
    "send_notification",
    "delete_repo",
    "rotate_secrets",
    "purge_cache",
    "admin_reset_cache",
    "debug_trace",
    "debug_dump_state",
    "exec_shell",
];

pub const SCOPES: [&str; 8] = [
    "openid mcp:read",
    "openid mcp:read github:issues offline_access",
    "openid mcp:write github:repos",
    "mcp:admin",
    "github:repos",
    "github:issues",
    "",
    "openid profile email",
];

pub const PRINCIPALS: u64 = 300;

/// A trace of `lines` lines, made as it is read: the runtime's JSON log
/// mostly, flat records with claims or scope arrays, lines without a call,
/// and now and then a malformed one.
pub struct Generated {
    left: u64,
    /// Whether one line in a hundred is not JSON (the test counts them).
    malformed: bool,
    line: Vec<u8>,
    at: usize,
    state: u64,
    bytes: u64,
    /// Distinct subjects drawn from.
    principals: u64,
}

impl Generated {
    pub fn new(lines: u64, malformed: bool) -> Generated {
        Generated {
            left: lines,
            malformed,
            line: Vec::new(),
            at: 0,
            state: 0x9e37_79b9_7f4a_7c15,
            bytes: 0,
            principals: PRINCIPALS,
        }
    }

    /// Subjects drawn from `principals` instead of [`PRINCIPALS`]: past the
    /// replay's key cap, most fold into "(other)".
    pub fn with_principals(mut self, principals: u64) -> Generated {
        self.principals = principals.max(1);
        self
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic and good enough for a mix.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_line(&mut self) {
        use std::io::Write;
        let r = self.next_random();
        let user = r % self.principals;
        let scopes = SCOPES[(user % SCOPES.len() as u64) as usize];
        let tool = TOOLS[((r >> 16) % TOOLS.len() as u64) as usize];
        let decision = if (r >> 32).is_multiple_of(3) {
            "deny"
        } else {
            "allow"
        };
        let form = (r >> 40) % 100;
        self.line.clear();
        let line = &mut self.line;
        let _ = match form {
            0..70 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:{:02}.{:06}Z","level":"INFO","fields":{{"message":"policy decision","subject":"user-{user}","client":"app-{}","scopes":"{scopes}","method":"tools/call","name":"{tool}","decision":"{decision}","rule":"default","missing":"","mode":"enforce"}},"target":"mcp_policy::decision"}}"#,
                r % 60,
                r % 1_000_000,
                user % 7
            ),
            70..80 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"policy decision","subject":"user-{user}","client":"","scopes":"{scopes}","method":"resources/read","name":"repo://acme/repo-{}/README.md","decision":"{decision}","rule":"default","missing":"","mode":"enforce"}},"target":"mcp_policy::decision"}}"#,
                (r >> 8) % 20
            ),
            80..85 => writeln!(
                line,
                r#"{{"subject":"user-{user}","scopes":"{scopes}","method":"prompts/get","name":"summarize_pr"}}"#
            ),
            85..92 => writeln!(
                line,
                r#"{{"claims":{{"sub":"user-{user}","azp":"batch","scp":[{}]}},"method":"tools/call","name":"{tool}"}}"#,
                scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            92..96 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"list filtered","subject":"user-{user}","method":"tools/list","listed":16,"hidden":"delete_repo","dry_run":false}},"target":"mcp_policy::decision"}}"#
            ),
            96..99 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"token rejected","decision":"unauthenticated","rejection":"expired"}},"target":"mcp_policy::decision"}}"#
            ),
            _ if self.malformed => writeln!(line, "not json {r}"),
            _ => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"policy reloaded"}},"target":"mcp_policy::reload"}}"#
            ),
        };
        self.at = 0;
    }
}

impl Read for Generated {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            if self.left == 0 {
                return Ok(0);
            }
            self.left -= 1;
            self.next_line();
        }
        let rest = &self.line[self.at..];
        let n = rest.len().min(buffer.len());
        buffer[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        self.bytes += n as u64;
        Ok(n)
    }
}
