//! The interactive REPL driven through a pseudo-terminal, as a person types at it.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Check;
use crate::common::*;

pub const CHECKS: &[(&str, Check)] = &[
    ("repl::tab_completes_columns_and_functions", tab_completes_columns_and_functions),
    ("repl::ctrl_c_cancels_a_query_not_the_session", ctrl_c_cancels_a_query_not_the_session),
    ("repl::once_writes_csv_that_reads_back", once_writes_csv_that_reads_back),
    ("repl::read_runs_a_script", read_runs_a_script),
    ("repl::history_survives_a_restart", history_survives_a_restart),
    ("repl::functions_shows_documentation", functions_shows_documentation),
    ("repl::chart_writes_svg_with_a_mark_per_row", chart_writes_svg_with_a_mark_per_row),
    ("repl::map_writes_svg_with_a_shape_per_gemeente", map_writes_svg_with_a_shape_per_gemeente),
];

/// vtsql running on a pseudo-terminal.
struct Pty {
    child: Child,
    master: std::fs::File,
    screen: String,
}

impl Pty {
    fn start(data: &Path, history: &Path) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize { ws_row: 50, ws_col: 160, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors into the given integers.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty failed");
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut command = Command::new(env!("CARGO_BIN_EXE_vtsql"));
        command
            .arg("--data")
            .arg(data)
            .env("VTSQL_HISTORY", history)
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; they make the pty the controlling
        // terminal so that Ctrl-C typed on it sends SIGINT to vtsql.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                Ok(())
            });
        }
        let child = command.spawn().expect("vtsql starts");
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            use std::os::fd::AsRawFd;
            let fd = master.as_raw_fd();
            libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
        }
        let mut pty = Pty { child, master, screen: String::new() };
        pty.expect("vtsql> ").expect("prompt");
        pty
    }

    fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits until `text` appears in the output after what earlier calls consumed.
    fn expect(&mut self, text: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.screen.find(text) {
                self.screen.drain(..i + text.len());
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {text:?}; screen:\n{}", self.screen));
            }
            match self.master.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(20)),
                Ok(n) => self.screen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Types one line and waits for the next prompt (rustyline drops input typed ahead of it).
    fn line(&mut self, text: &str) -> Result<(), String> {
        self.send(&format!("{text}\r"));
        self.expect("vtsql> ")
    }

    /// Ctrl-D until vtsql exits: a Ctrl-D typed while a result is still printing is dropped by
    /// rustyline, so it is repeated.
    fn quit(mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        let mut last_sent = Instant::now() - Duration::from_secs(1);
        while Instant::now() < deadline {
            if last_sent.elapsed() >= Duration::from_millis(500) {
                self.send("\x04");
                last_sent = Instant::now();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return ensure(status.success(), || format!("vtsql exited with {status}"));
            }
            let _ = self.master.read(&mut buf);
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("vtsql did not exit on Ctrl-D".into())
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> (tempfile::TempDir, Pty) {
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(fixture(), &dir.path().join("history"));
    (dir, pty)
}

fn tab_completes_columns_and_functions() -> Result<(), String> {
    let (_dir, mut pty) = start();
    pty.send("SELECT ontvangen_mel\t");
    pty.expect("ontvangen_meldingen")?;
    pty.send(", per_10\t");
    pty.expect("per_100k")?;
    pty.send("(1, 2) AS rate FROM veilig_thuis LIMIT 1;\r");
    pty.expect("50000")?;
    pty.quit()
}

fn ctrl_c_cancels_a_query_not_the_session() -> Result<(), String> {
    let (_dir, mut pty) = start();
    pty.send("SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000) b;\r");
    std::thread::sleep(Duration::from_millis(1500));
    pty.send("\x03");
    pty.expect("query cancelled")?;
    pty.send("SELECT 41 + 1 AS answer;\r");
    pty.expect("42")?;
    pty.quit()
}

fn once_writes_csv_that_reads_back() -> Result<(), String> {
    let (dir, mut pty) = start();
    let file = dir.path().join("out.csv");
    let sql = "SELECT category, ontvangen_meldingen FROM veilig_thuis WHERE period = '2020H1' ORDER BY category";
    pty.line(".mode csv")?;
    pty.line(&format!(".once {}", file.display()))?;
    pty.line(&format!("{sql};"))?;
    pty.send("SELECT 'after' AS next;\r");
    pty.expect("after")?;
    pty.quit()?;
    let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let schema = std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
        datafusion::arrow::datatypes::Field::new("category", datafusion::arrow::datatypes::DataType::Utf8, false),
        datafusion::arrow::datatypes::Field::new(
            "ontvangen_meldingen",
            datafusion::arrow::datatypes::DataType::Int64,
            true,
        ),
    ]));
    let reader = datafusion::arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .build(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let batches: Vec<_> = reader.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    ensure_eq(crate::slt::batches_to_rows(&batches), query(fixture(), sql)?, "CSV read back")?;
    ensure(!text.contains("after"), || "the second result went to the .once file too".into())
}

fn read_runs_a_script() -> Result<(), String> {
    let (dir, mut pty) = start();
    let script = dir.path().join("script.sql");
    std::fs::write(&script, ".mode csv\nSELECT 7 AS seven,\n  hy_label('2020H2') AS label;\n").unwrap();
    pty.send(&format!(".read {}\r", script.display()));
    pty.expect("seven,label")?;
    pty.expect("7,2e halfjaar 2020")?;
    pty.quit()
}

fn history_survives_a_restart() -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut pty = Pty::start(fixture(), &history);
    pty.send("SELECT 'remember me' AS note;\r");
    pty.expect("remember me |")?;
    pty.quit()?;
    let mut pty = Pty::start(fixture(), &history);
    pty.send("\x1b[A");
    pty.expect("SELECT 'remember me' AS note;")?;
    pty.send("\r");
    pty.expect("remember me |")?;
    pty.quit()
}

fn functions_shows_documentation() -> Result<(), String> {
    let (_dir, mut pty) = start();
    pty.send(".functions per_\r");
    pty.expect("per_100k(count, population)")?;
    pty.expect("Rate per 100,000 inhabitants")?;
    pty.expect("example:")?;
    pty.expect("per_capita(count, population, per)")?;
    pty.quit()
}

fn chart_writes_svg_with_a_mark_per_row() -> Result<(), String> {
    let (dir, mut pty) = start();
    let svg = dir.path().join("meldingen.svg");
    pty.send("SELECT period, ontvangen_meldingen FROM veilig_thuis WHERE category = 'Totaal' ORDER BY period;\r");
    pty.expect("2021H1")?;
    pty.send(".chart\r");
    pty.expect("● ontvangen_meldingen")?;
    pty.expect("vtsql> ")?;
    pty.send(&format!(".chart {}\r", svg.display()));
    pty.expect("wrote")?;
    pty.quit()?;
    let text = std::fs::read_to_string(&svg).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| format!("not XML: {e}"))?;
    // One point per row, plus the legend's.
    let circles = doc.descendants().filter(|n| n.has_tag_name("circle")).count();
    ensure_eq(circles, 3 + 1, "circles (3 rows + legend)")
}

/// `.map` in a script: per 100,000 inhabitants of every gemeente of 2022 (one suppressed), as SVG that an XML
/// parser reads, one shape per gemeente of that year, a legend and the attribution; and in the terminal.
fn map_writes_svg_with_a_shape_per_gemeente() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let svg = dir.path().join("map.svg");
    let script = dir.path().join("map.sql");
    std::fs::write(
        &script,
        format!(
            "SELECT region_code, year, CASE WHEN region_code = 'GM0141' THEN NULL ELSE round(per_100k(100, population), 1) END AS rate
             FROM population WHERE year = 2022 AND region_code LIKE 'GM%';
.map {}
.map
",
            svg.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), fixture().as_os_str(), "-f".as_ref(), script.as_os_str()])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    ensure(stdout.contains("rate per gemeente, 2022") && stdout.contains(". .  (suppressed"), || {
        stdout.clone().into_owned()
    })?;
    let text = std::fs::read_to_string(&svg).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| format!("not XML: {e}"))?;
    let regions: Vec<roxmltree::Node> =
        doc.descendants().filter(|n| n.has_tag_name("path") && n.attribute("class") == Some("region")).collect();
    ensure_eq(regions.len(), 345, "shapes (gemeenten on 1 January 2022)")?;
    let almelo = regions.iter().find(|n| n.attribute("id") == Some("GM0141")).ok_or("no shape for Almelo")?;
    ensure_eq(almelo.attribute("fill"), Some("#bdbdbd"), "Almelo's suppressed value")?;
    let legend = doc.descendants().find(|n| n.attribute("id") == Some("legend")).ok_or("no legend")?;
    ensure(legend.descendants().filter(|n| n.has_tag_name("rect")).count() >= 3, || "a legend without classes".into())?;
    let attribution = doc.descendants().find(|n| n.attribute("id") == Some("attribution")).ok_or("no attribution")?;
    let attribution = attribution.text().unwrap_or_default();
    ensure(attribution.contains("CBS") && attribution.contains("CC BY 4.0"), || attribution.to_string())
}
