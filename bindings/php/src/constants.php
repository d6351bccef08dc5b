<?php

declare(strict_types=1);

/*
 * libgearman's return codes (gearman_return_t), with the numbers pecl gearman exposes, defined in
 * the Gearlet namespace so that code written for GearmanClient can compare returnCode() with the
 * same names (`use const Gearlet\GEARMAN_SUCCESS;`) while the pecl extension's global constants
 * stay untouched when both are loaded. The values are libgearman 1.1's, so a number may be
 * compared with either set. 48..52 exist in libgearman but pecl does not export them; gearlet
 * needs them to report argument errors as libgearman does.
 */

namespace Gearlet;

const GEARMAN_SUCCESS = 0;
const GEARMAN_IO_WAIT = 1;
const GEARMAN_SHUTDOWN = 2;
const GEARMAN_SHUTDOWN_GRACEFUL = 3;
const GEARMAN_ERRNO = 4;
const GEARMAN_EVENT = 5;
const GEARMAN_TOO_MANY_ARGS = 6;
const GEARMAN_NO_ACTIVE_FDS = 7;
const GEARMAN_INVALID_MAGIC = 8;
const GEARMAN_INVALID_COMMAND = 9;
const GEARMAN_INVALID_PACKET = 10;
const GEARMAN_UNEXPECTED_PACKET = 11;
const GEARMAN_GETADDRINFO = 12;
const GEARMAN_NO_SERVERS = 13;
const GEARMAN_LOST_CONNECTION = 14;
const GEARMAN_MEMORY_ALLOCATION_FAILURE = 15;
const GEARMAN_JOB_EXISTS = 16;
const GEARMAN_JOB_QUEUE_FULL = 17;
const GEARMAN_SERVER_ERROR = 18;
const GEARMAN_WORK_ERROR = 19;
const GEARMAN_WORK_DATA = 20;
const GEARMAN_WORK_WARNING = 21;
const GEARMAN_WORK_STATUS = 22;
const GEARMAN_WORK_EXCEPTION = 23;
const GEARMAN_WORK_FAIL = 24;
const GEARMAN_NOT_CONNECTED = 25;
const GEARMAN_COULD_NOT_CONNECT = 26;
const GEARMAN_SEND_IN_PROGRESS = 27;
const GEARMAN_RECV_IN_PROGRESS = 28;
const GEARMAN_NOT_FLUSHING = 29;
const GEARMAN_DATA_TOO_LARGE = 30;
const GEARMAN_INVALID_FUNCTION_NAME = 31;
const GEARMAN_INVALID_WORKER_FUNCTION = 32;
const GEARMAN_NO_REGISTERED_FUNCTIONS = 34;
const GEARMAN_NO_JOBS = 35;
const GEARMAN_ECHO_DATA_CORRUPTION = 36;
const GEARMAN_NEED_WORKLOAD_FN = 37;
const GEARMAN_PAUSE = 38;
const GEARMAN_UNKNOWN_STATE = 39;
const GEARMAN_PTHREAD = 40;
const GEARMAN_PIPE_EOF = 41;
const GEARMAN_QUEUE_ERROR = 42;
const GEARMAN_FLUSH_DATA = 43;
const GEARMAN_SEND_BUFFER_TOO_SMALL = 44;
const GEARMAN_IGNORE_PACKET = 45;
const GEARMAN_UNKNOWN_OPTION = 46;
const GEARMAN_TIMEOUT = 47;
const GEARMAN_MAX_RETURN = 53;
const GEARMAN_JOB_PRIORITY_HIGH = 0;
const GEARMAN_JOB_PRIORITY_NORMAL = 1;
const GEARMAN_JOB_PRIORITY_LOW = 2;
const GEARMAN_NO_REGISTERED_FUNCTION = 33;
const GEARMAN_ARGUMENT_TOO_LARGE = 48;
const GEARMAN_INVALID_ARGUMENT = 49;
const GEARMAN_IN_PROGRESS = 50;
const GEARMAN_INVALID_SERVER_OPTION = 51;
const GEARMAN_JOB_NOT_FOUND = 52;
// libgearman's aliases: a worker function's "fail" and "retry later".
const GEARMAN_FATAL = GEARMAN_WORK_FAIL;
const GEARMAN_ERROR = GEARMAN_WORK_ERROR;
