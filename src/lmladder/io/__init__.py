"""Durable file output: atomic writes and safetensors checkpoints (never pickle)."""

from .atomic import (
    WriteError,
    atomic_directory,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_writer,
    remove_stale_temps,
    write_error,
)
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint_meta, save_checkpoint
from .files import check_user_file, checkpoint_path, path_kind, read_stdin, read_user_file
from .lock import LOCK_NAME, FolderTakenError, RunLockedError, folder_lock, run_lock
from .outputs import OutputError, check_output_folder, output_folder

__all__ = [
    "WriteError",
    "CheckpointError",
    "RunLockedError",
    "LOCK_NAME",
    "run_lock",
    "FolderTakenError",
    "folder_lock",
    "OutputError",
    "check_output_folder",
    "output_folder",
    "atomic_directory",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
    "check_user_file",
    "checkpoint_path",
    "path_kind",
    "read_stdin",
    "read_user_file",
    "remove_stale_temps",
    "write_error",
    "load_checkpoint",
    "read_checkpoint_meta",
    "save_checkpoint",
]
