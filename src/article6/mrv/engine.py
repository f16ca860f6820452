"""Execution engines for the MRV pipeline: DuckDB (default) and Spark.

The pipeline is a set of Ibis expressions; an engine reads the staged Parquet
tables, materialises the intermediate results that several outputs share
(so a lazy engine does not recompute them) and hands small results back as
Arrow tables. DuckDB streams from disk on one machine; Spark runs the very
same expressions in local mode or on a cluster.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.backends.duckdb  # the default engine's backend, loaded with this module
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.dataset as pads

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")
MEMORY_LIMIT_VARIABLE = "ARTICLE6_MRV_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "3GB"
KERNEL_MEMORY_VARIABLE = "ARTICLE6_MRV_KERNEL_MEMORY"
DEFAULT_KERNEL_MEMORY = "3GB"
_MEMORY_LIMIT = re.compile(r"^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
_UNITS = {
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def duckdb_memory_limit(env: Mapping[str, str] | None = None) -> str:
    """DuckDB's working-memory cap: ``ARTICLE6_MRV_MEMORY_LIMIT`` or 3 GB.

    Beyond the cap DuckDB spills to disk instead of failing, so a year of a
    national fleet runs on a laptop; a server may raise it for speed.
    """
    value = (os.environ if env is None else env).get(MEMORY_LIMIT_VARIABLE, DEFAULT_MEMORY_LIMIT)
    _size_bytes(MEMORY_LIMIT_VARIABLE, value)
    return value.strip()


def kernel_memory_bytes(env: Mapping[str, str] | None = None) -> int:
    """What the compiled kernels of a DuckDB run may hold in memory:
    ``ARTICLE6_MRV_KERNEL_MEMORY`` or 3 GB.

    The daily kernel keeps the vehicle-days and events it walks in memory, beside
    the engine's working memory; a fleet whose rows could need more is walked
    in blocks of vehicles, each block's rows kept on disk until its turn
    (``kernel_steps.start_kernels``).
    """
    value = (os.environ if env is None else env).get(KERNEL_MEMORY_VARIABLE, DEFAULT_KERNEL_MEMORY)
    return _size_bytes(KERNEL_MEMORY_VARIABLE, value)


def _size_bytes(variable: str, value: str) -> int:
    found = _MEMORY_LIMIT.match(value.strip())
    if found is None:
        raise ValueError(f"{variable}={value!r} is not a size such as 4GB or 512MB")
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def spark_session(
    master: str = "local[2]",
    shuffle_partitions: int = 4,
    extra_config: dict[str, str] | None = None,
) -> Any:
    """A Spark session set up for the pipeline: UTC clock, no UI, few partitions."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in (extra_config or {}).items():
        builder = builder.config(key, value)
    session = (
        builder.master(master)
        .appName("article6-mrv")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def use_retaining_memory_pool() -> None:
    """Make jemalloc (else the C library's malloc) pyarrow's default allocator.

    The streaming kernels and the Arrow results allocate and free large
    buffers batch after batch. mimalloc, pyarrow's default, hands freed pages
    back to the system within milliseconds, so every batch faults them in
    again: on a virtual machine that was a third of the GPS kernel's time.
    jemalloc keeps them for reuse and returns them only after a second idle.
    """
    if pa.default_memory_pool().backend_name != "mimalloc":
        return
    if "jemalloc" in pa.supported_memory_backends():
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    else:  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())


BUILDERS = 2
"""Tables a DuckDB run builds at once: one query seldom keeps every core busy
(its inserts and small steps run on one), two independent ones mostly do."""


class Engine:
    """One Ibis connection plus the tables this pipeline run created on it.

    On DuckDB, tables are created in the background (``BUILDERS`` threads,
    each on a connection of its own; a table starts once the tables it reads
    exist) while the caller builds and compiles the next steps (the
    compilation of a step needs the schema of the tables it reads, not their
    rows) or runs a streaming kernel beside them. Reading rows waits only for
    the tables they come from.
    """

    def __init__(
        self, name: EngineName, session: Any | None = None, spill_dir: Path | None = None
    ) -> None:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
        self.name: EngineName = name
        self._prefix = f"mrv_{uuid.uuid4().hex[:12]}_"
        self._created: list[str] = []
        self._files = 0  # staged files read, for their views' names
        self._pending: deque[Future[Any]] = deque()
        self._building: dict[str, Future[Any]] = {}
        self._local = threading.local()
        self._cursors: list[Any] = []
        self._session: Any = None
        use_retaining_memory_pool()
        if name == "duckdb":
            # Intermediate tables live in memory up to the limit and spill to
            # `spill_dir` beyond it, so a national fleet runs in bounded memory.
            self.con: Any = ibis.duckdb.connect(":memory:")
            self.con.raw_sql(f"SET memory_limit = '{duckdb_memory_limit()}'")
            self.con.raw_sql("SET preserve_insertion_order = false")
            self.con.raw_sql("SET enable_progress_bar = false")  # progress is ours to show
            if spill_dir is not None:
                target = str(spill_dir).replace("'", "''")
                self.con.raw_sql(f"SET temp_directory = '{target}'")
            self._builder: ThreadPoolExecutor | None = ThreadPoolExecutor(
                max_workers=BUILDERS, thread_name_prefix="mrv-engine"
            )
        else:
            self._session = session if session is not None else spark_session()
            self.con = ibis.pyspark.connect(self._session)
            self._builder = None

    def read(self, path: Path, schema: pa.Schema | None = None) -> ir.Table:
        """A staged Parquet table; `schema`, if known, spares asking the engine.

        On DuckDB a view of the database (not a temporary view, which only
        the connection that made it could see), so the builder's connection
        reads it too.
        """
        if self.name != "duckdb":
            return self.con.read_parquet(str(path))
        view = f"{self._prefix}file_{self._files}"
        self._files += 1
        source = str(path).replace("'", "''")
        self.con.raw_sql(f"CREATE VIEW \"{view}\" AS SELECT * FROM read_parquet('{source}')")
        if schema is None:
            return self.con.table(view)
        declared = ops.DatabaseTable(
            view,
            schema=ibis.Schema.from_pyarrow(schema),
            source=self.con,
            namespace=ops.Namespace(),
        )
        return declared.to_expr()

    def read_arrow(self, path: Path) -> ir.Table:
        """An Arrow IPC file a streaming kernel wrote, loaded as a table (DuckDB only).

        Loaded rather than scanned in place: DuckDB knows a table's size when
        it orders joins (of a scanned file it would not), and a table spills
        to disk beyond the memory limit. Loaded on the caller's connection,
        which alone sees the registered file, while the builder goes on.
        """
        return self.load_arrow(pads.dataset(str(path), format="ipc"), path.stem)

    def load_arrow(self, data: pa.Table | pads.Dataset, name: str) -> ir.Table:
        """Arrow data a kernel produced, loaded as a table (DuckDB only; see ``read_arrow``)."""
        if self.name != "duckdb":
            raise ValueError("Arrow results are loaded by the duckdb engine only")
        view = f"{self._prefix}{name}_file"
        table_name = self._prefix + name
        self.con.con.register(view, data)
        try:
            self._created.append(table_name)
            self.con.con.execute(f'CREATE OR REPLACE TABLE "{table_name}" AS FROM "{view}"')
        finally:
            self.con.con.unregister(view)
        return self.con.table(table_name)

    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        """Compute an expression once and return it as a table of this engine."""
        table_name = self._prefix + name
        sql = self.con.compile(expr)
        self._created.append(table_name)
        if self._builder is not None:
            statement = f'CREATE OR REPLACE TABLE "{table_name}" AS {sql}'
            # Every table it reads was asked for earlier, so it is running or
            # done: waiting for them cannot hold up the builders for good.
            inputs = [self._building[n] for n in _tables_read(expr) if n in self._building]
            future = self._builder.submit(self._build, statement, inputs)
            self._pending.append(future)
            self._building[table_name] = future
            # The table as it will be: the expression's schema (counts are
            # counts, not sums, whose type DuckDB would widen; a test checks
            # every declared schema against the built table's).
            declared = ops.DatabaseTable(
                table_name, schema=expr.schema(), source=self.con, namespace=ops.Namespace()
            )
            return declared.to_expr()
        # An eager local checkpoint cuts the lineage: later plans refer to
        # the stored rows, not to the whole chain of earlier steps.
        frame = self._session.sql(sql).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(table_name)
        return self.con.table(table_name)

    def _build(self, statement: str, inputs: list[Future[Any]]) -> None:
        for table in inputs:
            table.result()
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self.cursor()
            self._cursors.append(con)
        con.execute(statement)

    def wait_for(self, expr: ir.Table) -> None:
        """Wait until every table `expr` reads exists (a failure to build one is raised)."""
        for name in _tables_read(expr):
            if name in self._building:
                self._building[name].result()

    def cursor(self) -> Any:
        """A connection of its own to this run's DuckDB database (its settings, its
        tables), for work beside the engine's, such as the kernels' sorts."""
        if self.name != "duckdb":
            raise ValueError("cursors are for the duckdb engine only")
        con = self.con.con.cursor()
        con.execute("SET enable_progress_bar = false")  # a setting of each connection
        return con

    def settle(self) -> None:
        """Wait until every table asked for exists (the first failure is raised)."""
        while self._pending:
            self._pending.popleft().result()

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        self.wait_for(expr)
        result: pa.Table = self.con.to_pyarrow(expr)
        return result

    def write_parquet(self, expr: ir.Table, path: Path) -> None:
        """Stream an expression to Parquet without collecting it in memory.

        DuckDB writes one file; Spark writes a folder of part files (both are
        read back by ``pyarrow.parquet.read_table``).
        """
        self.settle()
        sql = self.con.compile(expr)
        if self.name == "duckdb":
            target = str(path).replace("'", "''")
            self.con.raw_sql(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
        else:
            self._session.sql(sql).write.mode("overwrite").parquet(str(path))

    def close(self) -> None:
        """Drop what this run created (on DuckDB, the database); a Spark session is left running."""
        if self._builder is not None:
            # A run that failed has reported its error; tables still being
            # created are waited for only so they can be dropped.
            self._builder.shutdown(wait=True)
            self._pending.clear()
            self._building.clear()
        if self.name == "spark":
            for table_name in self._created:
                self._session.catalog.dropTempView(table_name)
        # The DuckDB database is this run's own, in memory: closing it drops
        # every table and view at once.
        self._created.clear()
        if self.name == "duckdb":
            for con in self._cursors:
                con.close()
            self._cursors.clear()
            self.con.disconnect()


def _tables_read(expr: ir.Table) -> set[str]:
    return {table.name for table in expr.op().find(ops.DatabaseTable)}
