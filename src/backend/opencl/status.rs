//! OpenCL status codes and ocl's errors, turned into gpucalc's one-line errors.

use ocl::core::ffi::cl_int;

use crate::error::{BackendKind, Error};

/// The status codes of the OpenCL 3.0 headers and the common extensions.
const STATUS_NAMES: &[(cl_int, &str)] = &[
    (0, "CL_SUCCESS"),
    (-1, "CL_DEVICE_NOT_FOUND"),
    (-2, "CL_DEVICE_NOT_AVAILABLE"),
    (-3, "CL_COMPILER_NOT_AVAILABLE"),
    (-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"),
    (-5, "CL_OUT_OF_RESOURCES"),
    (-6, "CL_OUT_OF_HOST_MEMORY"),
    (-7, "CL_PROFILING_INFO_NOT_AVAILABLE"),
    (-8, "CL_MEM_COPY_OVERLAP"),
    (-9, "CL_IMAGE_FORMAT_MISMATCH"),
    (-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED"),
    (-11, "CL_BUILD_PROGRAM_FAILURE"),
    (-12, "CL_MAP_FAILURE"),
    (-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET"),
    (-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"),
    (-15, "CL_COMPILE_PROGRAM_FAILURE"),
    (-16, "CL_LINKER_NOT_AVAILABLE"),
    (-17, "CL_LINK_PROGRAM_FAILURE"),
    (-18, "CL_DEVICE_PARTITION_FAILED"),
    (-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"),
    (-30, "CL_INVALID_VALUE"),
    (-31, "CL_INVALID_DEVICE_TYPE"),
    (-32, "CL_INVALID_PLATFORM"),
    (-33, "CL_INVALID_DEVICE"),
    (-34, "CL_INVALID_CONTEXT"),
    (-35, "CL_INVALID_QUEUE_PROPERTIES"),
    (-36, "CL_INVALID_COMMAND_QUEUE"),
    (-37, "CL_INVALID_HOST_PTR"),
    (-38, "CL_INVALID_MEM_OBJECT"),
    (-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"),
    (-40, "CL_INVALID_IMAGE_SIZE"),
    (-41, "CL_INVALID_SAMPLER"),
    (-42, "CL_INVALID_BINARY"),
    (-43, "CL_INVALID_BUILD_OPTIONS"),
    (-44, "CL_INVALID_PROGRAM"),
    (-45, "CL_INVALID_PROGRAM_EXECUTABLE"),
    (-46, "CL_INVALID_KERNEL_NAME"),
    (-47, "CL_INVALID_KERNEL_DEFINITION"),
    (-48, "CL_INVALID_KERNEL"),
    (-49, "CL_INVALID_ARG_INDEX"),
    (-50, "CL_INVALID_ARG_VALUE"),
    (-51, "CL_INVALID_ARG_SIZE"),
    (-52, "CL_INVALID_KERNEL_ARGS"),
    (-53, "CL_INVALID_WORK_DIMENSION"),
    (-54, "CL_INVALID_WORK_GROUP_SIZE"),
    (-55, "CL_INVALID_WORK_ITEM_SIZE"),
    (-56, "CL_INVALID_GLOBAL_OFFSET"),
    (-57, "CL_INVALID_EVENT_WAIT_LIST"),
    (-58, "CL_INVALID_EVENT"),
    (-59, "CL_INVALID_OPERATION"),
    (-60, "CL_INVALID_GL_OBJECT"),
    (-61, "CL_INVALID_BUFFER_SIZE"),
    (-62, "CL_INVALID_MIP_LEVEL"),
    (-63, "CL_INVALID_GLOBAL_WORK_SIZE"),
    (-64, "CL_INVALID_PROPERTY"),
    (-65, "CL_INVALID_IMAGE_DESCRIPTOR"),
    (-66, "CL_INVALID_COMPILER_OPTIONS"),
    (-67, "CL_INVALID_LINKER_OPTIONS"),
    (-68, "CL_INVALID_DEVICE_PARTITION_COUNT"),
    (-69, "CL_INVALID_PIPE_SIZE"),
    (-70, "CL_INVALID_DEVICE_QUEUE"),
    (-71, "CL_INVALID_SPEC_ID"),
    (-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED"),
    (-1000, "CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR"),
    (-1001, "CL_PLATFORM_NOT_FOUND_KHR"),
    (-9999, "CL_NV_INVALID_MEM_ACCESS"),
];

/// Statuses that mean the device or host ran out of memory.
const OUT_OF_MEMORY: [cl_int; 3] = [-4, -5, -6];

/// `CL_INVALID_VALUE (-30)` for a known status, `OpenCL status -12345` otherwise.
pub(super) fn status_name(status: cl_int) -> String {
    match STATUS_NAMES.iter().find(|(code, _)| *code == status) {
        Some((_, name)) => format!("{name} ({status})"),
        None => format!("OpenCL status {status}"),
    }
}

/// One line from one of ocl's errors, which print as multi-line banners.
pub(super) fn error_text(err: &ocl::core::Error) -> String {
    match err.api_status() {
        Some(status) => status_name(status as cl_int),
        None => err
            .to_string()
            .split_whitespace()
            .filter(|word| !word.chars().all(|c| c == '#'))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Whether an ocl error is one of OpenCL's out-of-memory statuses.
pub(super) fn is_out_of_memory(err: &ocl::core::Error) -> bool {
    err.api_status()
        .is_some_and(|status| OUT_OF_MEMORY.contains(&(status as cl_int)))
}

/// [`Error::Runtime`] for a failed OpenCL call.
pub(super) fn runtime(call: impl Into<String>, err: &ocl::core::Error) -> Error {
    Error::Runtime {
        backend: BackendKind::OpenCl,
        call: call.into(),
        message: error_text(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_one_line() {
        assert_eq!(status_name(-54), "CL_INVALID_WORK_GROUP_SIZE (-54)");
        assert_eq!(status_name(-12345), "OpenCL status -12345");
        let err = ocl::core::Error::from("\n\n#### BANNER ####\n\nsomething\n  failed\n");
        assert_eq!(error_text(&err), "BANNER something failed");
        assert!(!is_out_of_memory(&err));
        let msg = runtime("clFinish", &err).to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(
            msg.ends_with("in clFinish: BANNER something failed"),
            "{msg}"
        );
    }
}
