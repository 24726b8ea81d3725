//! `gpucalc devices`: every device this build can see, as a table or JSON.

use anyhow::Result;

use super::output::table;
use super::Globals;
use crate::device::list_devices;
use crate::error::human_bytes;

pub(crate) fn run(globals: &Globals) -> Result<u8> {
    let list = list_devices();
    if globals.json {
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    let mut rows = vec![[
        "DEVICE", "TYPE", "NAME", "UNITS", "THREADS", "MEMORY", "CLOCK", "DRIVER", "DETAILS",
    ]
    .map(String::from)
    .to_vec()];
    for d in &list.devices {
        let mut details = Vec::new();
        if let Some(cc) = &d.compute_capability {
            details.push(format!("compute {cc}"));
        }
        if let Some(platform) = &d.platform {
            details.push(platform.clone());
        }
        if let Some(version) = &d.opencl_version {
            details.push(version.clone());
        }
        details.push(if d.fp64 { "fp64" } else { "no fp64" }.to_string());
        rows.push(vec![
            d.spec.clone(),
            d.device_type.as_str().to_string(),
            d.name.clone(),
            d.compute_units.to_string(),
            d.threads.map_or("-".to_string(), |t| t.to_string()),
            human_bytes(d.memory_bytes),
            d.clock_mhz.map_or("-".to_string(), |c| format!("{c} MHz")),
            d.driver_version.clone().unwrap_or_else(|| "-".to_string()),
            details.join(", "),
        ]);
    }
    out!("{}", table(&rows));
    for note in &list.notes {
        outln!("note: {note}");
    }
    Ok(0)
}
