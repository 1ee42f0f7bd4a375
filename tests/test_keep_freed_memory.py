"""setup_notebook's allocator setting: safe to call repeatedly, and on by default where the C library is glibc."""

from __future__ import annotations

import sys

import pytest

from course_utils.course.notebook import keep_freed_memory


def test_keep_freed_memory_is_idempotent():
    assert keep_freed_memory() == keep_freed_memory()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_keep_freed_memory_takes_effect_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert keep_freed_memory() is True
