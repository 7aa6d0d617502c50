"""Demo data: realistic synthetic manufacturing records from many companies, deterministically.

Two datasets, each with rows from more than a dozen fictional companies and two to four plants
(or yards) per company; the plant is the contributor column and every plant maps to its company
(the organisation that deposited it):

- ``wafer_lots``: semiconductor fabs. One row per lot and process step: product, tool, start
  time, chamber temperature and pressure, RF power, gas flow, step time, particles, defect
  density and die yield (a Poisson yield model over the defect density, which grows with the
  distance of the process from its recipe and with the plant's and the tool's own quality).
- ``weld_inspections``: shipyards. One row per inspected weld: hull, block, process (SMAW,
  GMAW, FCAW, SAW, GTAW), position, steel grade, thickness, current, voltage, travel speed,
  heat input, preheat, inspection method, result and defect type (the defect odds grow with the
  distance of the heat input from the process's sweet spot, with position and poor preheat).

The same seed and row count always give the same bytes: every value is a function of the row
number and the seed (DuckDB's ``hash``), never of thread timing, and rows are written in order.

Command line::

    python -m cleanroom.demo.data OUT_DIR [--rows N] [--seed S] [--format parquet,csv]
        [--dataset wafer_lots,weld_inspections]

writes ``OUT_DIR/<dataset>.parquet`` and ``.csv`` and ``OUT_DIR/contributors.json`` (per
dataset: the contributor column and the mapping of each plant to its company).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

DEFAULT_ROWS = 100_000
DEFAULT_SEED = 20240531
FORMATS = ("parquet", "csv")

# Fictional companies; each plant code is unique across all of them.
FABS: dict[str, list[tuple[str, str]]] = {
    "Hanbit Semiconductor": [
        ("HBS-ICN1", "Incheon"),
        ("HBS-PTK2", "Pyeongtaek"),
        ("HBS-GUM3", "Gumi"),
    ],
    "Arcturus Microdevices": [("ARC-AZ1", "Chandler"), ("ARC-OR2", "Hillsboro")],
    "Nordwafer": [("NWF-DRS", "Dresden"), ("NWF-GRZ", "Graz"), ("NWF-KAR", "Karlsruhe")],
    "Kestrel Silicon": [("KES-KUM", "Kumamoto"), ("KES-SEN", "Sendai")],
    "Meridian Foundry": [
        ("MER-HSC1", "Hsinchu"),
        ("MER-TNN2", "Tainan"),
        ("MER-TCH3", "Taichung"),
        ("MER-KHH4", "Kaohsiung"),
    ],
    "Sojourn Semiconductor": [("SOJ-SGP1", "Woodlands"), ("SOJ-SGP2", "Tampines")],
    "Tidewater Micro": [("TDW-NY1", "Malta"), ("TDW-VT2", "Essex Junction")],
    "Yeoncheon Devices": [("YCD-CJU", "Cheongju"), ("YCD-ICH", "Icheon")],
    "Cobalt Ridge Fab": [("CRF-TX1", "Austin"), ("CRF-TX2", "Sherman"), ("CRF-NM3", "Rio Rancho")],
    "Lumen Integrated": [("LUM-GRE", "Grenoble"), ("LUM-CAT", "Catania")],
    "Oriel Semiconductor": [("ORI-DUB", "Leixlip"), ("ORI-NEW", "Newport")],
    "Haneul Microsystems": [("HNL-ASN", "Asan"), ("HNL-GHG", "Giheung"), ("HNL-HWS", "Hwaseong")],
    "Veridian Chipworks": [("VER-PEN", "Penang"), ("VER-KUL", "Kulim")],
    "Saebyeok Silicon": [("SBS-ULS", "Ulsan"), ("SBS-CWN", "Changwon")],
}

SHIPYARDS: dict[str, list[tuple[str, str]]] = {
    "Haedong Heavy Industries": [("HDH-ULS", "Ulsan"), ("HDH-MOK", "Mokpo"), ("HDH-GUN", "Gunsan")],
    "Baltic Hullworks": [("BHW-GDN", "Gdansk"), ("BHW-SZC", "Szczecin")],
    "Norrland Shipyards": [("NRL-GBG", "Gothenburg"), ("NRL-UMO", "Umea")],
    "Kaya Marine": [("KYM-GJE", "Geoje"), ("KYM-TYG", "Tongyeong")],
    "Gulfstream Yards": [
        ("GSY-PAS", "Pascagoula"),
        ("GSY-MOB", "Mobile"),
        ("GSY-GAL", "Galveston"),
    ],
    "Wolseong Shipbuilding": [("WSB-BSN", "Busan"), ("WSB-YGS", "Yeongam")],
    "Ostsee Werft": [("OSW-KIE", "Kiel"), ("OSW-ROS", "Rostock"), ("OSW-WIS", "Wismar")],
    "Pacific Keel": [("PKL-NAG", "Nagasaki"), ("PKL-KUR", "Kure")],
    "Dongbang Offshore": [("DBO-GJE", "Geoje"), ("DBO-JIN", "Jinhae")],
    "Fjordline Yards": [("FJL-ULS", "Ulsteinvik"), ("FJL-BRG", "Bergen")],
    "Sunrise Marine Engineering": [
        ("SME-SHA", "Shanghai"),
        ("SME-DAL", "Dalian"),
        ("SME-NTG", "Nantong"),
    ],
    "Cape Anchor Shipbuilding": [("CAS-DUR", "Durban"), ("CAS-CPT", "Cape Town")],
    "Ibérica Naval": [("IBN-FER", "Ferrol"), ("IBN-CAD", "Cadiz")],
}


@dataclass(frozen=True)
class DemoDataset:
    """One generated dataset: where it is and whose rows it holds."""

    name: str
    title: str
    rows: int
    contributor_column: str
    contributors: dict[str, str]  # plant (contributor value) -> company (organisation)
    paths: dict[str, Path] = field(default_factory=dict)  # format -> file

    @property
    def organisations(self) -> list[str]:
        return sorted(set(self.contributors.values()))


@dataclass(frozen=True)
class DemoData:
    out_dir: Path
    datasets: dict[str, DemoDataset]

    @property
    def contributors(self) -> dict[str, str]:
        """Every contributor value of every dataset -> its organisation."""
        return {k: v for d in self.datasets.values() for k, v in d.contributors.items()}


# --- SQL helpers: every random value is a pure function of (row number, seed, salt) -------------


def _u(seed: int, salt: int) -> str:
    """A uniform double in [0, 1) from the row number ``i``."""
    return f"((hash(i, {seed}, {salt}) >> 11) / 9007199254740992.0)"


def _normal(seed: int, salt: int) -> str:
    """A standard normal (Box-Muller) from the row number ``i``."""
    return f"(sqrt(-2 * ln(1 - {_u(seed, salt)})) * cos(2 * pi() * {_u(seed, salt + 1)}))"


def _pick(seed: int, salt: int, n: int) -> str:
    """A uniform integer 1..n."""
    return f"CAST(1 + hash(i, {seed}, {salt}) % {n} AS BIGINT)"


def _str_list(values: Iterable[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _num_list(values: Iterable[float]) -> str:
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def _weighted(seed: int, salt: int, weights: Sequence[float], buckets: int = 4096) -> str:
    """An integer 1..len(weights) drawn with the given weights (a lookup over fine buckets)."""
    total = sum(weights)
    table, acc, k = [], 0.0, 0
    for b in range(buckets):
        while k < len(weights) - 1 and (b + 0.5) / buckets > (acc + weights[k]) / total:
            acc += weights[k]
            k += 1
        table.append(k + 1)
    return (
        f"([{', '.join(map(str, table))}][CAST(1 + hash(i, {seed}, {salt}) % {buckets} AS BIGINT)])"
    )


def _plants(companies: dict[str, list[tuple[str, str]]], rng: random.Random):
    plants = []
    for company, sites in companies.items():
        size = rng.uniform(0.5, 3.0)  # some companies are much bigger than others
        for code, city in sites:
            plants.append((code, company, city, size * rng.uniform(0.6, 1.4)))
    return plants


# --- the two datasets ------------------------------------------------------------------------


def _wafer_lots_sql(rows: int, seed: int) -> tuple[str, dict[str, str]]:
    rng = random.Random(f"wafer_lots:{seed}")  # noqa: S311 - demo data, not secrets
    plants = _plants(FABS, rng)
    quality = [rng.uniform(0.6, 1.6) for _ in plants]  # the plant's defect multiplier
    steps = ["LITHO", "ETCH", "CVD", "PVD", "CMP", "IMPLANT", "DIFFUSION"]
    # nominal recipe per step: temperature C, pressure Torr, RF power W, gas sccm, time s
    temp = [23.0, 60.0, 400.0, 250.0, 45.0, 25.0, 1000.0]
    pres = [760.0, 0.02, 2.5, 0.005, 760.0, 0.00001, 760.0]
    power = [0.0, 1500.0, 800.0, 2000.0, 0.0, 0.0, 0.0]
    gas = [0.0, 120.0, 350.0, 40.0, 0.0, 5.0, 2000.0]
    secs = [90.0, 180.0, 420.0, 240.0, 120.0, 60.0, 5400.0]
    products = ["DRAM-1b", "NAND-236L", "LOGIC-5nm", "LOGIC-14nm", "PMIC-180nm", "CIS-28nm"]
    die_area_cm2 = [0.40, 0.75, 1.10, 0.85, 0.20, 0.55]
    s = seed
    # Built from this module's constants and integers only.
    sql = f"""
WITH r AS (
  SELECT i,
    {_weighted(s, 1, [p[3] for p in plants])} AS p,
    {_pick(s, 2, len(steps))} AS st,
    {_weighted(s, 3, [3, 2, 2, 1, 1, 1])} AS pr,
    {_pick(s, 4, 12)} AS tool,
    {_normal(s, 5)} AS z_temp, {_normal(s, 7)} AS z_pres, {_normal(s, 9)} AS z_pow,
    {_normal(s, 11)} AS z_gas, {_normal(s, 13)} AS z_time, {_normal(s, 15)} AS z_def,
    {_u(s, 17)} AS u_time, {_u(s, 18)} AS u_wafers, {_u(s, 19)} AS u_scrap,
    {_normal(s, 20)} AS z_yield
  FROM range({rows}) t(i)
), x AS (
  SELECT *,
    -- each tool drifts a little away from its recipe, the same way every time
    ((hash(p, tool, {s}, 21) % 2001) / 1000.0 - 1.0) * 0.6 AS drift,
    {_num_list(quality)}[p] AS plant_quality
  FROM r
), y AS (
  SELECT *,
    abs(z_temp + drift) + abs(z_pres) * 0.5 + abs(z_pow) * 0.3 AS off_recipe
  FROM x
), z AS (
  SELECT *,
    greatest(0.005, 0.08 * plant_quality * exp(0.45 * off_recipe) * exp(0.25 * z_def))
      AS defect_density
  FROM y
)
SELECT
  {_str_list(p[1] for p in plants)}[p] AS company,
  {_str_list(p[0] for p in plants)}[p] AS plant,
  printf('%s-%08d', {_str_list(p[0] for p in plants)}[p], i + 1) AS lot_id,
  {_str_list(products)}[pr] AS product,
  {_str_list(steps)}[st] AS process_step,
  printf('%s-%s-%02d', {_str_list(p[0] for p in plants)}[p],
         left({_str_list(steps)}[st], 3), tool) AS tool_id,
  TIMESTAMP '2024-01-01 00:00:00' + to_seconds(CAST(floor(u_time * 31536000) AS BIGINT))
    AS start_time,
  CAST(CASE WHEN u_wafers < 0.9 THEN 25 WHEN u_wafers < 0.97 THEN 24 ELSE 23 END AS INTEGER)
    AS wafer_count,
  round({_num_list(temp)}[st] * (1 + 0.01 * (z_temp + drift)), 2) AS chamber_temp_c,
  round({_num_list(pres)}[st] * (1 + 0.03 * z_pres), 6) AS chamber_pressure_torr,
  round(greatest(0, {_num_list(power)}[st] * (1 + 0.02 * z_pow)), 1) AS rf_power_w,
  round(greatest(0, {_num_list(gas)}[st] * (1 + 0.04 * z_gas)), 1) AS gas_flow_sccm,
  round({_num_list(secs)}[st] * (1 + 0.05 * z_time), 1) AS step_time_s,
  CAST(floor(defect_density * 180 * (1 + 0.3 * abs(z_def))) AS INTEGER) AS particle_count,
  round(defect_density, 4) AS defect_density_cm2,
  round(least(99.9, greatest(0.0,
    100 * exp(-defect_density * {_num_list(die_area_cm2)}[pr]) + 1.5 * z_yield)), 2)
    AS die_yield_pct,
  (100 * exp(-defect_density * {_num_list(die_area_cm2)}[pr]) + 1.5 * z_yield < 55
    OR u_scrap < 0.004) AS scrapped
FROM z
ORDER BY i
"""  # noqa: S608
    return sql, {p[0]: p[1] for p in plants}


def _weld_inspections_sql(rows: int, seed: int) -> tuple[str, dict[str, str]]:
    rng = random.Random(f"weld_inspections:{seed}")  # noqa: S311 - demo data
    yards = _plants(SHIPYARDS, rng)
    skill = [rng.uniform(0.7, 1.5) for _ in yards]  # the yard's defect multiplier
    processes = ["SMAW", "GMAW", "FCAW", "SAW", "GTAW"]
    amps = [140.0, 220.0, 240.0, 650.0, 120.0]
    volts = [24.0, 26.0, 27.0, 34.0, 12.0]
    speed = [150.0, 350.0, 320.0, 550.0, 90.0]  # mm/min
    efficiency = [0.8, 0.8, 0.8, 1.0, 0.6]
    positions = ["1G", "2G", "3G", "4G"]
    position_risk = [1.0, 1.2, 1.5, 1.8]
    grades = ["AH36", "DH36", "EH36", "A131 Grade A", "316L"]
    methods = ["VT", "UT", "RT", "MT"]
    defects = [
        "porosity",
        "lack_of_fusion",
        "undercut",
        "slag_inclusion",
        "crack",
        "incomplete_penetration",
    ]
    s = seed
    # Built from this module's constants and integers only.
    sql = f"""
WITH r AS (
  SELECT i,
    {_weighted(s, 31, [y[3] for y in yards])} AS y,
    {_weighted(s, 32, [3, 3, 4, 2, 1])} AS pc,
    {_weighted(s, 33, [5, 2, 2, 1])} AS pos,
    {_weighted(s, 34, [4, 3, 2, 2, 1])} AS gr,
    {_weighted(s, 35, [3, 4, 2, 1])} AS m,
    {_pick(s, 36, 60)} AS hull, {_pick(s, 37, 240)} AS blk, {_pick(s, 38, 400)} AS welder,
    {_normal(s, 39)} AS z_amp, {_normal(s, 41)} AS z_volt, {_normal(s, 43)} AS z_speed,
    {_u(s, 45)} AS u_thick, {_u(s, 46)} AS u_pre, {_u(s, 47)} AS u_day,
    {_u(s, 48)} AS u_defect, {_u(s, 49)} AS u_result, {_pick(s, 50, 6)} AS dt
  FROM range({rows}) t(i)
), x AS (
  SELECT *,
    {_num_list(amps)}[pc] * (1 + 0.08 * z_amp) AS current_a,
    {_num_list(volts)}[pc] * (1 + 0.05 * z_volt) AS voltage_v,
    greatest(20, {_num_list(speed)}[pc] * (1 + 0.12 * z_speed)) AS travel_mm_min,
    round(6 + u_thick * u_thick * 34, 1) AS thickness_mm
  FROM r
), h AS (
  SELECT *,
    {_num_list(efficiency)}[pc] * voltage_v * current_a * 60 / (1000 * travel_mm_min)
      AS heat_input,
    CASE WHEN thickness_mm > 25 THEN 60 + 60 * u_pre ELSE 10 + 40 * u_pre END AS preheat_c
  FROM x
), p AS (
  SELECT *,
    least(0.9, 0.03 * {_num_list(skill)}[y] * {_num_list(position_risk)}[pos]
      * (1 + 6 * abs(ln(heat_input / ({_num_list(efficiency)}[pc]
          * {_num_list(volts)}[pc] * {_num_list(amps)}[pc] * 60
          / (1000 * {_num_list(speed)}[pc])))))
      * CASE WHEN thickness_mm > 25 AND preheat_c < 80 THEN 1.8 ELSE 1.0 END) AS p_defect
  FROM h
)
SELECT
  {_str_list(y[1] for y in yards)}[y] AS company,
  {_str_list(y[0] for y in yards)}[y] AS yard,
  printf('H%04d', 1000 + hull + 60 * (y - 1)) AS hull_no,
  printf('B%03d', blk) AS block,
  printf('%s-W%09d', {_str_list(y[0] for y in yards)}[y], i + 1) AS weld_id,
  {_str_list(processes)}[pc] AS process,
  {_str_list(positions)}[pos] AS position,
  {_str_list(grades)}[gr] AS steel_grade,
  thickness_mm,
  round(current_a, 1) AS current_a,
  round(voltage_v, 2) AS voltage_v,
  round(travel_mm_min, 1) AS travel_speed_mm_min,
  round(heat_input, 3) AS heat_input_kj_mm,
  round(preheat_c, 1) AS preheat_c,
  printf('%s-WLD%03d', {_str_list(y[0] for y in yards)}[y], welder) AS welder_id,
  DATE '2023-01-01' + CAST(floor(u_day * 730) AS INTEGER) AS inspected_on,
  {_str_list(methods)}[m] AS inspection_method,
  CASE WHEN u_defect >= p_defect THEN 'accept'
       WHEN u_result < 0.8 THEN 'repair' ELSE 'reject' END AS result,
  CASE WHEN u_defect >= p_defect THEN 'none'
       ELSE {_str_list(defects)}[dt] END AS defect_type
FROM p
ORDER BY i
"""  # noqa: S608
    return sql, {y[0]: y[1] for y in yards}


DATASETS: dict[str, tuple[str, str, Callable[[int, int], tuple[str, dict[str, str]]]]] = {
    "wafer_lots": (
        "Semiconductor wafer lots: process parameters, defects and yield",
        "plant",
        _wafer_lots_sql,
    ),
    "weld_inspections": (
        "Shipyard weld inspections: welding parameters and results",
        "yard",
        _weld_inspections_sql,
    ),
}


def _sql_path(path: Path) -> str:
    text = str(path)
    if any(ord(c) < 32 for c in text):
        raise ValueError(f"refusing a path with control characters: {text!r}")
    return "'" + text.replace("'", "''") + "'"


def generate(
    out_dir: str | Path,
    rows: int = DEFAULT_ROWS,
    *,
    seed: int = DEFAULT_SEED,
    formats: Sequence[str] = FORMATS,
    datasets: Sequence[str] = tuple(DATASETS),
    threads: int | None = None,
) -> DemoData:
    """Write the demo datasets (``rows`` rows each) into ``out_dir``; same seed, same bytes."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    unknown = [f for f in formats if f not in FORMATS] + [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"unknown format or dataset {unknown}: use {FORMATS} and {list(DATASETS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {"preserve_insertion_order": True}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    result: dict[str, DemoDataset] = {}
    try:
        for name in datasets:
            title, contributor_column, build = DATASETS[name]
            sql, contributors = build(rows, seed)
            con.execute(f"CREATE OR REPLACE TEMP VIEW demo AS {sql}")
            paths: dict[str, Path] = {}
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                tmp = path.with_name(f".{path.name}.tmp")
                options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
                con.execute(f"COPY (SELECT * FROM demo) TO {_sql_path(tmp)} ({options})")  # noqa: S608
                tmp.replace(path)
                paths[fmt] = path
            result[name] = DemoDataset(name, title, rows, contributor_column, contributors, paths)
    finally:
        con.close()
    mapping = {
        d.name: {
            "title": d.title,
            "rows": d.rows,
            "contributor_column": d.contributor_column,
            "contributors": d.contributors,
        }
        for d in result.values()
    }
    (out / "contributors.json").write_text(json.dumps(mapping, indent=2, sort_keys=True) + "\n")
    return DemoData(out, result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cleanroom.demo.data",
        description="Write deterministic synthetic manufacturing datasets (Parquet and CSV).",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write into (created if needed)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows per dataset")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same bytes")
    parser.add_argument("--format", default=",".join(FORMATS), help="parquet,csv (default both)")
    parser.add_argument("--dataset", default=",".join(DATASETS), help=",".join(DATASETS))
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    names = [d.strip() for d in args.dataset.split(",") if d.strip()]
    start = time.monotonic()
    try:
        data = generate(args.out_dir, args.rows, seed=args.seed, formats=formats, datasets=names)
    except ValueError as error:
        parser.error(str(error))
    for d in data.datasets.values():
        files = ", ".join(str(p) for p in d.paths.values())
        print(
            f"{d.name}: {d.rows:,} rows from {len(d.organisations)} companies, "
            f"{len(d.contributors)} {d.contributor_column}s: {files}"
        )
    print(f"contributors: {data.out_dir / 'contributors.json'} ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
