//! A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, `initdb` in a
//! temporary directory, started on a free loopback port, stopped (and its directory removed)
//! on drop, or by a watchdog when the test process dies without dropping it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The superuser the cluster is initialised with (trust authentication on loopback).
const USER: &str = "forage";
/// The system account that runs the server when the tests run as root (PostgreSQL refuses root).
const RUN_AS: &str = "postgres";

/// A running PostgreSQL cluster in a temporary directory.
pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
    watchdog: Option<Child>,
}

impl std::fmt::Debug for TempPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempPostgres")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

/// Where Debian keeps the server binaries: `FORAGE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` that has `initdb`, `pg_ctl` and `postgres`.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FORAGE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry
                .file_name()
                .to_str()?
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let bin = entry.path().join("bin");
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|b| bin.join(b).exists())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl TempPostgres {
    /// Starts a cluster; panics saying what is missing (run `scripts/install-test-deps.sh`).
    pub fn start() -> TempPostgres {
        Self::try_start().unwrap_or_else(|e| panic!("cannot start a test PostgreSQL: {e}"))
    }

    pub fn try_start() -> Result<TempPostgres, String> {
        let bin = find_bin_dir().ok_or(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: \
             run scripts/install-test-deps.sh (Debian package `postgresql`)",
        )?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "forage-pg-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let run_as = is_root().then_some(RUN_AS);
        let mut pg = TempPostgres {
            dir,
            bin,
            port: free_port(),
            run_as,
            watchdog: None,
        };
        if let Some(user) = run_as {
            ensure_user(user)?;
            let mut chown = Command::new("chown");
            chown.arg("-R").arg(format!("{user}:")).arg(&pg.dir);
            run(chown, "chown")?;
        }
        pg.watchdog = pg.spawn_watchdog().ok();
        pg.init_and_start()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command for one of the server binaries, run as the server's user.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    fn init_and_start(&self) -> Result<(), String> {
        let mut initdb = self.tool("initdb");
        initdb
            .arg("-D")
            .arg(self.data())
            .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
            .current_dir(&self.dir);
        run(initdb, "initdb")?;
        let options = format!(
            "-F -p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 \
             -c shared_buffers=64MB -c synchronous_commit=off",
            self.port,
            self.dir.display()
        );
        let mut start = self.tool("pg_ctl");
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .current_dir(&self.dir);
        run(start, "pg_ctl start").map_err(|e| format!("{e}\n{}", self.log_tail()))?;
        Ok(())
    }

    /// The end of the server log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let skip = log.chars().count().saturating_sub(4000);
        log.chars().skip(skip).collect()
    }

    /// Kills the cluster when this process dies, even without a drop (a static shared cluster,
    /// a panic that aborts, SIGKILL).
    fn spawn_watchdog(&self) -> std::io::Result<Child> {
        let stop = format!(
            "{} {} -D '{}' stop -m immediate",
            if self.run_as.is_some() {
                "runuser -u postgres --"
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of the default database (`postgres`).
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    pub fn url_of(&self, database: &str) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .arg(name);
        if let Err(e) = run(createdb, "createdb") {
            panic!("{e}");
        }
        self.url_of(name)
    }

    /// A new, empty database with a unique name; returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        self.create_database(&name)
    }

    /// Runs `sql` with `psql` on `database`; returns the rows, unaligned, `|`-separated.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args([
                "-d",
                database,
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(
            out.status.success(),
            "psql failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops the server at once (the next start would recover).
    pub fn stop(&self) {
        let mut stop = self.tool("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate", "-w"]);
        if let Err(e) = run(stop, "pg_ctl stop") {
            tracing::warn!(error = %e, "cannot stop the test PostgreSQL");
        }
    }
}

/// Creates the system account the server runs as, when it is missing.
fn ensure_user(user: &str) -> Result<(), String> {
    let exists = Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if exists {
        return Ok(());
    }
    let mut add = Command::new("useradd");
    add.args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        user,
    ]);
    run(add, "useradd")
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
