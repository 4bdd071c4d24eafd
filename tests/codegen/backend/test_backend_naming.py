"""Name mapping (qapi-to-proto.md, "Names"): every example of the spec, buf's prefix algorithm
and the look-alike rules protoc enforces."""

from __future__ import annotations

import pytest

from qapi_jobs.codegen.proto_names import (
    command_name,
    enum_value_name,
    enum_value_prefix,
    enum_value_uniqueness_key,
    enum_zero_name,
    event_message_name,
    field_name,
    file_stem,
    json_default_name,
    package_path,
    type_name,
    upper_snake,
)


@pytest.mark.parametrize(
    ("qapi", "proto"),
    [
        ("JobInfo", "JobInfo"),
        ("X86CPURegister32", "X86CPURegister32"),
        ("__org.qemu_x-Struct", "OrgQemuXStruct"),
        ("x-Foo", "XFoo"),
        ("q_obj_Foo-wrapper", "QObjFooWrapper"),
    ],
)
def test_type_names(qapi: str, proto: str) -> None:
    assert type_name(qapi) == proto


@pytest.mark.parametrize(
    ("qapi", "proto"),
    [
        ("job-pause", "JobPause"),
        ("query-cpus-fast", "QueryCpusFast"),
        ("block_set_io_throttle", "BlockSetIoThrottle"),
        ("x-debug-query-block-graph", "XDebugQueryBlockGraph"),
        ("__com.redhat_drive-add", "ComRedhatDriveAdd"),
    ],
)
def test_command_names(qapi: str, proto: str) -> None:
    assert command_name(qapi) == proto


def test_event_names() -> None:
    assert event_message_name("JOB_STATUS_CHANGE") == "JobStatusChangeEvent"
    assert field_name("JOB_STATUS_CHANGE") == "job_status_change"


@pytest.mark.parametrize(
    ("qapi", "proto"),
    [
        ("current-progress", "current_progress"),
        ("x-perf", "x_perf"),
        ("backing_file", "backing_file"),
        ("UUID", "uuid"),
        ("iops_rd_max", "iops_rd_max"),
        ("__org.qemu_x-member1", "org_qemu_x_member1"),
        ("camelCase", "camel_case"),
        ("l2-cache-size", "l2_cache_size"),
        ("a--b", "a_b"),
    ],
)
def test_field_names(qapi: str, proto: str) -> None:
    assert field_name(qapi) == proto


@pytest.mark.parametrize(
    ("enum", "value", "proto"),
    [
        ("JobStatus", "undefined", "JOB_STATUS_UNDEFINED"),
        ("PCIELinkSpeed", "2_5", "PCIE_LINK_SPEED_2_5"),
        ("QKeyCode", "kp_0", "Q_KEY_CODE_KP_0"),
        ("BlockdevVmdkSubformat", "monolithicSparse", "BLOCKDEV_VMDK_SUBFORMAT_MONOLITHIC_SPARSE"),
        ("X86CPURegister32", "EAX", "X86CPU_REGISTER32_EAX"),
        ("QapiErrorClass", "KVMMissingCap", "QAPI_ERROR_CLASS_KVM_MISSING_CAP"),
        ("ImageFormat", "legacyESX", "IMAGE_FORMAT_LEGACY_ESX"),
        ("JobVerb", "set-speed", "JOB_VERB_SET_SPEED"),
        ("Foo", "__org.qemu_x-value", "FOO_ORG_QEMU_X_VALUE"),
    ],
)
def test_enum_value_names(enum: str, value: str, proto: str) -> None:
    assert enum_value_name(enum, value) == proto


@pytest.mark.parametrize(
    ("enum", "prefix"),
    [
        # The spec's examples.
        ("S390CrashReason", "S390_CRASH_REASON"),
        ("Qcow2OverlapCheckMode", "QCOW2_OVERLAP_CHECK_MODE"),
        ("X86CPURegister32", "X86CPU_REGISTER32"),
        ("PCIELinkSpeed", "PCIE_LINK_SPEED"),
        ("QKeyCode", "Q_KEY_CODE"),
        # Checked against buf 1.75 lint messages: a capital followed by a
        # digit does not start a new word.
        ("ABC2x", "ABC2X"),
        ("AB2Cd", "AB2_CD"),
        ("AbCDE9f", "AB_CDE9F"),
        ("Ab9Cd", "AB9_CD"),
        ("ABc", "A_BC"),
        ("A1B2C3", "A1B2C3"),
        ("X86CPU2b", "X86CPU2B"),
        ("HTTPServer2", "HTTP_SERVER2"),
        ("UI", "UI"),
    ],
)
def test_buf_enum_prefix(enum: str, prefix: str) -> None:
    assert enum_value_prefix(enum) == prefix


def test_upper_snake_keeps_delimiters_as_underscores() -> None:
    assert upper_snake("foo-bar.baz") == "FOO_BAR_BAZ"


def test_zero_value() -> None:
    assert enum_zero_name("JobStatus") == "JOB_STATUS_UNSPECIFIED"


def test_protoc_look_alike_rule() -> None:
    assert enum_value_uniqueness_key("H", "H_2_5") == enum_value_uniqueness_key("H", "H_25") == "25"
    assert enum_value_uniqueness_key("G", "G_FOO_BAR") == "FooBar"
    assert enum_value_uniqueness_key("G", "G_FOOBAR") == "Foobar"
    # The prefix is matched ignoring case and underscores, or not stripped at all.
    assert enum_value_uniqueness_key("JobStatus", "JOB_STATUS_NULL") == "Null"
    assert enum_value_uniqueness_key("JobStatus", "OTHER_NULL") == "OtherNull"


def test_protoc_default_json_name() -> None:
    assert json_default_name("foo2") == json_default_name("foo_2") == "foo2"
    assert json_default_name("current_progress") == "currentProgress"


def test_paths() -> None:
    assert file_stem("block-job.json") == "block_job"
    assert file_stem("../../qapi/block-core.json") == "qapi_block_core"
    assert file_stem("2nd.json") == "module_2nd"
    assert package_path("qemu.qmp.v1") == "qemu/qmp/v1"
