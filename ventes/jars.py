"""JVM dependencies from Maven Central: the Kafka broker, and Delta + Kafka source for Spark.

Each set is declared by a small pom in ``ventes/poms`` and copied once into
``VENTES_HOME/jars/<set>`` by Maven, whose ``~/.m2`` cache makes a second setup offline.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pyspark

from ventes.errors import VentesError
from ventes.settings import Settings

POMS_DIR = Path(__file__).resolve().parent / "poms"
JAR_SETS = {"kafka": "kafka-broker.xml", "spark": "spark-extras.xml", "metastore": "metastore-jdbc.xml"}
PYSPARK_JARS_DIR = Path(pyspark.__file__).resolve().parent / "jars"
_VERSION_SUFFIX = re.compile(r"-\d[\w.\-]*\.jar$")


def _artifact(jar_name: str) -> str:
    """``kafka-clients-3.9.2.jar`` -> ``kafka-clients``."""
    return _VERSION_SUFFIX.sub("", jar_name)


def _fetch(pom: Path, target: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise VentesError(
            "Maven (mvn) is needed once to download the Kafka and Delta jars: "
            "install it (apt-get install maven) and run again"
        )
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [ln for ln in result.stdout.splitlines() if "[ERROR]" in ln]
        reason = lines[0] if lines else result.stderr.strip()[-300:]
        raise VentesError(f"could not download the jars of {pom.name}: {reason}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def ensure_jars(settings: Settings) -> None:
    """Download each jar set unless the copy for the current pom is already there."""
    for name, pom_file in JAR_SETS.items():
        pom = POMS_DIR / pom_file
        target = settings.jars_dir / name
        stamp = target / ".pom-sha256"
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == digest:
            continue
        print(f"downloading the {name} jars (Maven Central, cached in ~/.m2)...", flush=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        _fetch(pom, target)
        stamp.write_text(digest)


def kafka_classpath(settings: Settings) -> str:
    return str(settings.jars_dir / "kafka" / "*")


def spark_extra_jars(settings: Settings) -> list[Path]:
    """Delta, the Kafka source and the metastore JDBC driver, minus every artifact pyspark ships.

    The poms' transitive closure repeats Hadoop, Jackson, Parquet and Scala at other
    versions; putting those on the classpath beside pyspark's would mix versions.
    """
    shipped = {_artifact(p.name) for p in PYSPARK_JARS_DIR.glob("*.jar")}
    jars = sorted(
        [*(settings.jars_dir / "spark").glob("*.jar"), *(settings.jars_dir / "metastore").glob("*.jar")]
    )
    return [j for j in jars if _artifact(j.name) not in shipped]
