"""Transitional: the names lib/util.py had, from their new homes."""
from lib.cli import Help, UserError, check_flags, cli, parse  # noqa
from lib.conversations import align, conversation, load_conversations, load_documents, read_pairs  # noqa
from lib.files import (append_jsonl, check_output, default_mode, fsync, read_json, read_records, read_text,  # noqa
                       write_atomic, write_json)
from lib.provenance import ROOT, code_sha256, differences, fingerprint, sha256  # noqa
from lib.report import conditions, flatten, fmt, mean_std, pct, pyplot, results_table, seed_pairs, table  # noqa
from lib.rundir import (check_run_dir, holds, locked, put_back, recover, remove, replace_dir, take_lock,  # noqa
                        trim_log)


def require(checks):
    for need, ok in checks.items():
        if not ok:
            raise UserError(f"need {need}")
