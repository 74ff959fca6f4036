"""docs/qgis.md's steps, done by QGIS itself (PyQGIS of Debian's QGIS; run with Debian's
python3, not the project's venv): an OAuth2 "Resource Owner" configuration pointed at
/api/token, the OGC API - Features connection with it, the parcels layer and a filter on a
queryable, the vector tiles with the same configuration, and an exported GeoPackage.

Usage: /usr/bin/python3 qgis_steps.py BASE_URL USER PASSWORD GPKG; prints one JSON object."""

import json
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsAuthMethodConfig,
    QgsDataSourceUri,
    QgsVectorLayer,
    QgsVectorTileLayer,
)


def _oauth2_config(base: str, user: str, password: str) -> str:
    """Step 1: Settings → Options → Authentication → + → OAuth2, grant flow Resource Owner."""
    manager = QgsApplication.authManager()
    manager.setMasterPassword("a master password", True)
    config = QgsAuthMethodConfig("OAuth2")
    config.setName("geo_service")
    # What the dialog saves: grantFlow 2 is Resource Owner, accessMethod 0 is Header.
    config.setConfig("oauth2config", json.dumps({
        "configType": 1, "grantFlow": 2, "tokenUrl": f"{base}/api/token",
        "username": user, "password": password, "clientId": "", "clientSecret": "",
        "scope": "", "accessMethod": 0, "persistToken": False, "requestTimeout": 30,
        "name": "geo_service", "version": 1,
    }))  # fmt: skip
    stored, _same = manager.storeAuthenticationConfig(config)
    assert stored
    return config.id()


def _count(layer) -> int:
    return sum(1 for _ in layer.getFeatures())


def main(base: str, user: str, password: str, gpkg: str) -> dict:
    auth = _oauth2_config(base, user, password)
    # Step 2: the OGC API - Features connection, with that configuration.
    uri = QgsDataSourceUri()
    uri.setParam("url", f"{base}/ogc")
    uri.setParam("typename", "parcels")
    uri.setAuthConfigId(auth)
    parcels = QgsVectorLayer(uri.uri(False), "parcels", "OAPIF")
    # (Not parcels.error(): reading it crashes QGIS 3.22's OAPIF provider.)
    found = {"parcels_valid": parcels.isValid()}
    if parcels.isValid():
        found["crs"] = parcels.crs().authid()
        found["fields"] = [f.name() for f in parcels.fields()]
        found["parcels"] = _count(parcels)
        parcels.setSubsetString("township = '新店镇' AND kind = 'land'")
        found["xindian_land"] = _count(parcels)
    # Step 3: the vector tiles, with the same configuration.
    tiles = QgsVectorTileLayer(
        f"type=xyz&url={base}/tiles/{{z}}/{{x}}/{{y}}.pbf&zmin=0&zmax=16&authcfg={auth}", "tiles"
    )
    found["tiles_valid"] = tiles.isValid()
    # Step 4: an exported GeoPackage.
    package = QgsVectorLayer(gpkg, "export", "ogr")
    found["gpkg_valid"] = package.isValid()
    found["gpkg"] = _count(package) if package.isValid() else None
    return found


if __name__ == "__main__":
    application = QgsApplication([], False, tempfile.mkdtemp())
    application.initQgis()
    result = main(*sys.argv[1:5])
    print(json.dumps(result, ensure_ascii=False))
    application.exitQgis()
