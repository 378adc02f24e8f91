"""The Bronze job's Spark session: the project's Delta configuration, UTC, and Spark's own log
in ``VENTES_HOME/logs/ingest.log`` rather than on the terminal."""

from __future__ import annotations

from pathlib import Path

from ventes.settings import Settings

APP_NAME = "ventes-bronze"
LOG_NAME = "ingest.log"


def log_file(settings: Settings) -> Path:
    return settings.log_dir / LOG_NAME


def _log4j_config(settings: Settings) -> Path:
    """Spark's own log goes to ``LOG_NAME`` (WARN and up), never to the terminal."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    path = settings.log_dir / "ingest-log4j2.properties"
    path.write_text(
        "rootLogger.level = WARN\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
        "appender.file.type = File\n"
        "appender.file.name = FILE\n"
        f"appender.file.fileName = {log_file(settings)}\n"
        "appender.file.append = true\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = %d{ISO8601} %p %c{1}: %m%n%ex\n"
        # Known, harmless start-up warnings of a local session.
        "logger.native.name = org.apache.hadoop.util.NativeCodeLoader\nlogger.native.level = ERROR\n"
    )
    return path


def spark_session(settings: Settings, extra_conf: dict[str, str] | None = None):
    """The job's session: the project's Delta conf, quiet logs, UTC; reuses an active one.

    Returns the session and whether this call created it (then the caller stops it).
    """
    from pyspark.sql import SparkSession

    from ventes.spark import new_session

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    log4j = {"spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_log4j_config(settings)}"}
    return new_session(settings, APP_NAME, conf={**log4j, **(extra_conf or {})}), True
