"""The catalog schema as a list of stepwise migrations.

``PRAGMA user_version`` holds the schema version. Each migration runs in its own
transaction, so a crash mid-upgrade leaves the previous version intact. A catalog newer
than this code is refused rather than guessed at: the user's index is worth more than
a clever fallback.
"""

from __future__ import annotations

import sqlite3

from hachi.errors import CatalogTooNew

MIGRATIONS: tuple[str, ...] = (
    # 1: folders, photos and their dimension tables, failures, jobs, auth, vectors, FTS.
    """
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL,
        last_scan_at TEXT
    );
    CREATE TABLE cameras (
        id INTEGER PRIMARY KEY,
        make TEXT NOT NULL,
        model TEXT NOT NULL,
        label TEXT NOT NULL,
        terms TEXT NOT NULL,
        UNIQUE (make, model)
    );
    CREATE TABLE lenses (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, terms TEXT NOT NULL
    );
    CREATE TABLE places (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        city TEXT NOT NULL DEFAULT '',
        region TEXT NOT NULL DEFAULT '',
        country TEXT NOT NULL DEFAULT '',
        country_code TEXT NOT NULL DEFAULT '',
        label TEXT NOT NULL,
        terms TEXT NOT NULL,
        UNIQUE (name, city, region, country_code)
    );
    CREATE TABLE dirs (
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        terms TEXT NOT NULL
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        dir_id INTEGER NOT NULL REFERENCES dirs(id),
        path TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        ext TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        mime TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        taken_at TEXT,
        tz_offset INTEGER,
        taken_source TEXT,
        camera_id INTEGER REFERENCES cameras(id),
        lens_id INTEGER REFERENCES lenses(id),
        focal_length REAL,
        aperture REAL,
        exposure_time REAL,
        iso INTEGER,
        latitude REAL,
        longitude REAL,
        altitude REAL,
        orientation INTEGER,
        place_id INTEGER REFERENCES places(id),
        job_id INTEGER,
        indexed_at TEXT NOT NULL
    );
    CREATE INDEX photos_taken ON photos (taken_at);
    CREATE INDEX photos_camera ON photos (camera_id, taken_at);
    CREATE INDEX photos_place ON photos (place_id, taken_at);
    CREATE INDEX photos_lens ON photos (lens_id);
    CREATE INDEX photos_folder ON photos (folder_id);
    CREATE INDEX photos_dir ON photos (dir_id);
    CREATE INDEX photos_hash ON photos (content_hash);
    CREATE TABLE failed_files (
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        error TEXT NOT NULL,
        job_id INTEGER,
        failed_at TEXT NOT NULL
    );
    CREATE INDEX failed_folder ON failed_files (folder_id);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        folder_ids TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        found INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0,
        moved INTEGER NOT NULL DEFAULT 0,
        current TEXT,
        error TEXT,
        owner_pid INTEGER,
        heartbeat_at REAL
    );
    CREATE INDEX jobs_state ON jobs (state);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT
    );
    CREATE TABLE vector_sets (
        model TEXT PRIMARY KEY,
        dim INTEGER NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0,
        rows_committed INTEGER NOT NULL DEFAULT 0
    );
    CREATE VIRTUAL TABLE photos_fts USING fts5 (
        name, folder, place, people, ocr,
        tokenize = "unicode61 remove_diacritics 2"
    );
    """,
    # 2: per-photo analyses by models (CLIP, faces, OCR), their vectors and text; job phases.
    """
    CREATE TABLE analyses (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        task TEXT NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        done_at TEXT NOT NULL,
        PRIMARY KEY (photo_id, task, model)
    );
    CREATE INDEX analyses_task ON analyses (task, model);
    CREATE TABLE photo_vectors (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        row INTEGER NOT NULL,
        PRIMARY KEY (photo_id, model)
    );
    CREATE UNIQUE INDEX photo_vectors_row ON photo_vectors (model, row);
    CREATE TABLE ocr_text (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        folded TEXT NOT NULL
    );
    ALTER TABLE vector_sets ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER photo_vectors_added AFTER INSERT ON photo_vectors BEGIN
        UPDATE vector_sets SET version = version + 1 WHERE model = new.model;
    END;
    CREATE TRIGGER photo_vectors_changed AFTER UPDATE ON photo_vectors BEGIN
        UPDATE vector_sets SET version = version + 1 WHERE model = new.model;
    END;
    CREATE TRIGGER photo_vectors_removed AFTER DELETE ON photo_vectors BEGIN
        UPDATE vector_sets SET version = version + 1 WHERE model = old.model;
    END;
    ALTER TABLE jobs ADD COLUMN phase TEXT;
    ALTER TABLE jobs ADD COLUMN phase_done INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN phase_total INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: faces and people. Boxes are fractions of the displayed (upright) photo, so they
    # do not depend on the size a backend looked at.
    """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT,
        hidden INTEGER NOT NULL DEFAULT 0,
        cover_face_id INTEGER,
        created_at TEXT NOT NULL,
        named_at TEXT
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        backend TEXT NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        w REAL NOT NULL,
        h REAL NOT NULL,
        landmarks TEXT NOT NULL,
        score REAL NOT NULL,
        embedding_row INTEGER NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
        assigned_by TEXT NOT NULL DEFAULT 'auto'
    );
    CREATE INDEX faces_photo ON faces (photo_id, backend);
    CREATE INDEX faces_person ON faces (person_id, backend);
    CREATE TABLE face_rejections (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    );
    """,
    # 4: document frequencies of full-text terms, so search can tell a rare word from one
    # found in most of the library before asking FTS for every match.
    """
    CREATE VIRTUAL TABLE photos_fts_terms USING fts5vocab('photos_fts', 'row');
    """,
    # 5: browser sessions kept server-side, so logout and a password change end them;
    # API tokens may expire. Only hashes of the secrets are stored.
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sessions_expiry ON sessions (expires_at);
    ALTER TABLE tokens ADD COLUMN expires_at TEXT;
    """,
    # 6: scoped jobs. A folder watcher queues only the files and folders that changed;
    # NULL means the whole of each folder, as every job before it did.
    """
    ALTER TABLE jobs ADD COLUMN paths TEXT;
    """,
    # 7: when the running model pass started, so its rate (and the job's ETA) is measured.
    """
    ALTER TABLE jobs ADD COLUMN phase_started_at REAL;
    """,
    # 8: near: and within: look photos up by position in an R*Tree (a point is a box of no
    # size). Triggers keep it in step with every write to photos, in the same transaction,
    # so no writer can forget it and a kill cannot leave it behind; existing photos fill it.
    """
    CREATE VIRTUAL TABLE photos_geo USING rtree(id, min_lat, max_lat, min_lon, max_lon);
    INSERT INTO photos_geo (id, min_lat, max_lat, min_lon, max_lon)
        SELECT id, latitude, latitude, longitude, longitude FROM photos
        WHERE latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180;
    CREATE TRIGGER photos_geo_insert AFTER INSERT ON photos
        WHEN NEW.latitude BETWEEN -90 AND 90 AND NEW.longitude BETWEEN -180 AND 180
    BEGIN
        INSERT OR REPLACE INTO photos_geo (id, min_lat, max_lat, min_lon, max_lon)
            VALUES (NEW.id, NEW.latitude, NEW.latitude, NEW.longitude, NEW.longitude);
    END;
    CREATE TRIGGER photos_geo_update AFTER UPDATE OF id, latitude, longitude ON photos
    BEGIN
        DELETE FROM photos_geo WHERE id = OLD.id;
        INSERT OR REPLACE INTO photos_geo (id, min_lat, max_lat, min_lon, max_lon)
            SELECT NEW.id, NEW.latitude, NEW.latitude, NEW.longitude, NEW.longitude
            WHERE NEW.latitude BETWEEN -90 AND 90 AND NEW.longitude BETWEEN -180 AND 180;
    END;
    CREATE TRIGGER photos_geo_delete AFTER DELETE ON photos
    BEGIN
        DELETE FROM photos_geo WHERE id = OLD.id;
    END;
    """,
    # 9: what a merge of two people changed, so it can be undone (the source person's row,
    # the faces it brought and how they were locked, the rejections it copied).
    """
    CREATE TABLE people_merges (
        id INTEGER PRIMARY KEY,
        source_id INTEGER NOT NULL,
        target_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        merged_at TEXT NOT NULL,
        record TEXT NOT NULL
    );
    """,
    # 10: videos: a kind on every item, the video's facts, and its moments (sampled frames with
    # the time each starts) pointing at rows of a model's vector file beside the photos'.
    """
    ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo';
    ALTER TABLE photos ADD COLUMN duration_s REAL;
    ALTER TABLE photos ADD COLUMN frame_rate REAL;
    ALTER TABLE photos ADD COLUMN codec TEXT;
    CREATE INDEX photos_kind ON photos (kind, duration_s);
    CREATE TABLE video_moments (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        row INTEGER NOT NULL,
        at_s REAL NOT NULL,
        PRIMARY KEY (model, row)
    );
    CREATE INDEX video_moments_photo ON video_moments (photo_id, model);
    CREATE TRIGGER video_moments_added AFTER INSERT ON video_moments BEGIN
        UPDATE vector_sets SET version = version + 1 WHERE model = new.model;
    END;
    CREATE TRIGGER video_moments_changed AFTER UPDATE ON video_moments BEGIN
        UPDATE vector_sets SET version = version + 1 WHERE model = new.model;
    END;
    CREATE TRIGGER video_moments_removed AFTER DELETE ON video_moments BEGIN
        UPDATE vector_sets SET version = version + 1 WHERE model = old.model;
    END;
    """,
    # 11: albums: a smart album keeps a query (its photos are whatever the query finds now);
    # a plain one (query NULL) keeps chosen photos by id, which moves and rescans keep.
    """
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        query TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE album_photos (
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        added_at TEXT NOT NULL,
        PRIMARY KEY (album_id, photo_id)
    ) WITHOUT ROWID;
    CREATE INDEX album_photos_photo ON album_photos (photo_id);
    """,
    # 12: near-duplicates. Each photo's perceptual hash and colour layout (NULL both until
    # computed: a library indexed before this migration gets them from its thumbnails, an
    # empty chroma marks a photo they could not be computed for), the content hash it was
    # last grouped with (unequal: to be grouped again), and the groups themselves.
    """
    ALTER TABLE photos ADD COLUMN phash INTEGER;
    ALTER TABLE photos ADD COLUMN chroma BLOB;
    ALTER TABLE photos ADD COLUMN grouped_hash TEXT;
    CREATE TABLE duplicates (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        group_id INTEGER NOT NULL,
        kind TEXT NOT NULL
    );
    CREATE INDEX duplicates_group ON duplicates (group_id);
    """,
    # 13: which CLIP image tower indexes (int8 or float32), decided once per model files by
    # comparing both on the library's first photos; and the check under way (how many
    # photos' inputs its scratch file holds for sure).
    """
    CREATE TABLE tower_choices (
        model TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        photos INTEGER NOT NULL,
        p1_cosine REAL NOT NULL,
        mean_cosine REAL NOT NULL,
        min_cosine REAL NOT NULL,
        tower TEXT NOT NULL CHECK (tower IN ('int8', 'float32')),
        decided_at REAL NOT NULL,
        PRIMARY KEY (model, fingerprint)
    ) WITHOUT ROWID;
    CREATE TABLE tower_checks (
        model TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        photos INTEGER NOT NULL,
        PRIMARY KEY (model, fingerprint)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the catalog to SCHEMA_VERSION; returns the version it started from."""
    start = schema_version(conn)
    if start > SCHEMA_VERSION:
        raise CatalogTooNew(
            f"catalog schema version {start} is newer than this Hachi understands "
            f"({SCHEMA_VERSION}); upgrade Hachi instead of downgrading the catalog",
            {"catalog_version": start, "code_version": SCHEMA_VERSION},
        )
    for version in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if schema_version(conn) > version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return start


def _statements(script: str) -> list[str]:
    """Split a migration into statements; executescript would commit behind our back."""
    parts, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            parts.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        parts.append(buffer.strip())
    return parts
