//! `gpucalc transfer`: host↔device bandwidth by size, pageable and pinned.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::output::{si, table};
use super::{number, Globals};
use crate::error::human_bytes;
use crate::workloads::transfer::transfer;

#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// Largest copy in bytes (e.g. 2^28 or 1e9), at least 1024; sizes run in powers of 4 from
    /// 1 KiB up to it, then it.
    #[arg(long, default_value = "2^28", value_parser = number::parse_count, allow_negative_numbers = true)]
    max_bytes: u64,

    /// Timed copies per size (after one warm-up copy).
    #[arg(long, default_value_t = 10, value_parser = number::parse_count, allow_negative_numbers = true)]
    reps: u64,
}

pub(crate) fn run(globals: &Globals, args: &TransferArgs) -> Result<u8> {
    let device = globals.open_device()?;
    let rows = transfer(&device, args.max_bytes, usize::try_from(args.reps)?)?;
    let info = device.info();
    if globals.json {
        let value = json!({ "workload": "transfer", "device": info, "rows": rows });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    outln!("device       {} ({})", info.spec, info.name);
    let mut lines = vec![[
        "DIRECTION",
        "MEMORY",
        "SIZE",
        "MIN TIME",
        "AVG TIME",
        "BANDWIDTH",
    ]
    .map(String::from)
    .to_vec()];
    for r in &rows {
        lines.push(vec![
            r.direction.to_string(),
            r.memory.to_string(),
            human_bytes(r.bytes),
            format!("{:.2} us", r.min_s * 1e6),
            format!("{:.2} us", r.avg_s * 1e6),
            format!("{}B/s", si(r.bandwidth)),
        ]);
    }
    out!("{}", table(&lines));
    Ok(0)
}
