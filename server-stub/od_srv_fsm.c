/*
 * od_srv_fsm.c - the task and per-device state machines, as pure
 * functions so that every storage backend applies the same rules inside
 * its own transaction, and the unit tests can walk every transition.
 *
 * Task (operator view, as on OneNET):
 *
 *   not_started --start--> upgrading --pause--> paused --start--> upgrading
 *        |                     |                   |
 *      delete               cancel              cancel
 *                              v                   v
 *                           stopped <--------------+
 *   upgrading --(every device terminal)--> completed
 *   edit: not_started only. delete: not_started, stopped, completed.
 *
 * Device (one row per device in a task):
 *
 *   pending --token check / first download / step 0..99--> downloading
 *   pending|downloading --step 100 / 101--> upgrading
 *   pending|downloading --102..107--> pending (retry) | failed (no retry left)
 *   pending|downloading|upgrading --202..206--> pending (retry) | failed
 *   pending|downloading|upgrading --201--> succeeded
 *   any live state --207 / 208--> failed
 *   any live state --check that picks another package--> pending
 *
 * The download sub-state follows the state of the current attempt:
 * pending none, downloading running, upgrading and succeeded done; a row
 * that ends failed (or cancelled, by the store) while its download ran
 * shows failed, otherwise what it had.
 */
#include "od_srv.h"

#include <stddef.h>
#include <string.h>

int od_srv_task_apply(int *state, int op)
{
    int s;

    if (!state)
        return OD_SRV_ERR_PARAM;
    s = *state;
    if (s < OD_SRV_TASK_NOT_STARTED || s > OD_SRV_TASK_COMPLETED)
        return OD_SRV_ERR_PARAM;
    switch (op) {
    case OD_SRV_OP_EDIT:
        return s == OD_SRV_TASK_NOT_STARTED ? OD_SRV_OK : OD_SRV_ERR_STATE;
    case OD_SRV_OP_DELETE:
        return (s == OD_SRV_TASK_NOT_STARTED || s == OD_SRV_TASK_STOPPED ||
                s == OD_SRV_TASK_COMPLETED)
                   ? OD_SRV_OK
                   : OD_SRV_ERR_STATE;
    case OD_SRV_OP_START:
        if (s != OD_SRV_TASK_NOT_STARTED && s != OD_SRV_TASK_PAUSED)
            return OD_SRV_ERR_STATE;
        *state = OD_SRV_TASK_UPGRADING;
        return OD_SRV_OK;
    case OD_SRV_OP_PAUSE:
        if (s != OD_SRV_TASK_UPGRADING)
            return OD_SRV_ERR_STATE;
        *state = OD_SRV_TASK_PAUSED;
        return OD_SRV_OK;
    case OD_SRV_OP_CANCEL:
        if (s != OD_SRV_TASK_UPGRADING && s != OD_SRV_TASK_PAUSED)
            return OD_SRV_ERR_STATE;
        *state = OD_SRV_TASK_STOPPED;
        return OD_SRV_OK;
    default:
        return OD_SRV_ERR_PARAM;
    }
}

static const char *const task_names[] = {"not_started", "upgrading", "paused",
                                         "stopped", "completed"};
static const char *const op_names[] = {"edit", "delete", "start", "pause",
                                       "cancel"};

const char *od_srv_task_state_name(int state)
{
    if (state < 0 || state > OD_SRV_TASK_COMPLETED)
        return "?";
    return task_names[state];
}

const char *od_srv_task_op_name(int op)
{
    if (op < 0 || op > OD_SRV_OP_CANCEL)
        return "?";
    return op_names[op];
}

int od_srv_dev_terminal(int state)
{
    return state == OD_SRV_DEV_SUCCEEDED || state == OD_SRV_DEV_FAILED ||
           state == OD_SRV_DEV_CANCELLED;
}

static int terminal_eno(int state)
{
    return state == OD_SRV_DEV_CANCELLED ? OD_SRV_ENO_CANCELLED
                                         : OD_SRV_ENO_FINISHED;
}

/* The row ends failed: a download still under way (or, dl, one the device
 * says failed) shows failed; percent keeps where it got. */
static void end_failed(od_srv_dev_fsm *d, int dl)
{
    d->state = OD_SRV_DEV_FAILED;
    if (dl || d->dl_state == OD_SRV_DL_RUNNING)
        d->dl_state = OD_SRV_DL_FAILED;
}

/* Back to pending for a new attempt, which has downloaded nothing yet. */
static void start_over(od_srv_dev_fsm *d)
{
    d->state = OD_SRV_DEV_PENDING;
    d->dl_state = OD_SRV_DL_NONE;
    d->percent = 0;
}

/* A failed attempt: retry if the task allows another, else fail for good.
 * The retry budget counts failures, so retry = 0 means one attempt. dl: a
 * download failure (1xx). */
static void fail_attempt(od_srv_dev_fsm *d, int code, int max_retry, int dl)
{
    d->retries++;
    d->last_code = code;
    d->repeat_ok = 1;
    if (d->retries > max_retry)
        end_failed(d, dl);
    else
        start_over(d);
}

/* A failure report that repeats the row's last one with no check between:
 * the device resent it because the reply was lost (NB-IoT), so it was
 * counted already. Only while the row is where that failure left it. */
static int is_resend(const od_srv_dev_fsm *d, int step)
{
    return d->repeat_ok && step == d->last_code &&
           (d->state == OD_SRV_DEV_PENDING || d->state == OD_SRV_DEV_FAILED);
}

int od_srv_dev_token_check(od_srv_dev_fsm *d)
{
    if (od_srv_dev_terminal(d->state))
        return terminal_eno(d->state);
    if (d->state == OD_SRV_DEV_PENDING) {
        d->state = OD_SRV_DEV_DOWNLOADING;
        d->dl_state = OD_SRV_DL_RUNNING;
        d->repeat_ok = 0; /* a new attempt: its failure is a new one */
        return OD_SRV_ENO_OK;
    }
    if (d->state == OD_SRV_DEV_DOWNLOADING)
        return OD_SRV_ENO_OK; /* a resumed download checks again */
    return OD_SRV_ENO_STATE;
}

void od_srv_dev_checked(od_srv_dev_fsm *d, int new_package)
{
    d->repeat_ok = 0;
    /* What the device fetched or applied was of the old package. */
    if (new_package && !od_srv_dev_terminal(d->state))
        start_over(d);
}

int od_srv_dev_report(od_srv_dev_fsm *d, int step, int max_retry)
{
    int live_dl;

    if (step < 0 || (step > 107 && step < 201) || step > 208)
        return OD_SRV_ENO_PARAM;
    if (is_resend(d, step))
        return OD_SRV_ENO_OK; /* the first copy's answer, nothing changed */
    if (od_srv_dev_terminal(d->state))
        return terminal_eno(d->state);
    live_dl = d->state == OD_SRV_DEV_PENDING ||
              d->state == OD_SRV_DEV_DOWNLOADING;

    if (step <= 100) {
        if (!live_dl)
            return OD_SRV_ENO_STATE;
        d->repeat_ok = 0;
        d->percent = step;
        if (step == 100) {
            d->state = OD_SRV_DEV_UPGRADING;
            d->dl_state = OD_SRV_DL_DONE;
        } else {
            d->state = OD_SRV_DEV_DOWNLOADING;
            d->dl_state = OD_SRV_DL_RUNNING;
        }
        return OD_SRV_ENO_OK;
    }
    if (step <= 107) {
        /* 1xx only while downloading; after 100 the device is applying. */
        if (!live_dl)
            return OD_SRV_ENO_STATE;
        if (step == 101) {
            d->repeat_ok = 0;
            d->state = OD_SRV_DEV_UPGRADING;
            d->dl_state = OD_SRV_DL_DONE;
            d->percent = 100;
            d->last_code = step;
            return OD_SRV_ENO_OK;
        }
        fail_attempt(d, step, max_retry, 1);
        return OD_SRV_ENO_OK;
    }
    /* 2xx: allowed while downloading or upgrading (OneNET allows either
     * class while 下载中), and from pending, since a device that cut power
     * after applying may report before checking its token again. */
    switch (step) {
    case 201:
        d->state = OD_SRV_DEV_SUCCEEDED;
        d->dl_state = OD_SRV_DL_DONE;
        d->percent = 100;
        d->last_code = step;
        d->repeat_ok = 0;
        return OD_SRV_ENO_OK;
    case 207:
    case 208:
        end_failed(d, 0);
        d->last_code = step;
        d->repeat_ok = 1;
        return OD_SRV_ENO_OK;
    default:
        fail_attempt(d, step, max_retry, 0);
        return OD_SRV_ENO_OK;
    }
}

static const char *const dev_names[] = {"?", "pending", "downloading",
                                        "upgrading", "succeeded", "failed",
                                        "cancelled"};

const char *od_srv_dev_state_name(int state)
{
    if (state < 1 || state > OD_SRV_DEV_CANCELLED)
        return "?";
    return dev_names[state];
}

const char *od_srv_status_text(int code)
{
    switch (code) {
    case 101: return "downloaded";
    case 102: return "download failed: no space";
    case 103: return "download failed: out of memory";
    case 104: return "download failed: request timeout";
    case 105: return "download failed: low battery";
    case 106: return "download failed: bad signal";
    case 107: return "download failed: unknown";
    case 201: return "upgrade succeeded";
    case 202: return "upgrade failed: low battery";
    case 203: return "upgrade failed: out of memory";
    case 204: return "upgrade failed: package does not match the target";
    case 205: return "upgrade failed: MD5 check failed";
    case 206: return "upgrade failed: unknown";
    case 207: return "max retries reached";
    case 208: return "upgrade expired";
    default: return NULL;
    }
}

const char *od_srv_strerror(int ret)
{
    switch (ret) {
    case OD_SRV_OK: return "success";
    case OD_SRV_ERR_PARAM: return "invalid parameter";
    case OD_SRV_ERR_NOT_FOUND: return "not found";
    case OD_SRV_ERR_EXISTS: return "already exists";
    case OD_SRV_ERR_STATE: return "operation not allowed in the current state";
    case OD_SRV_ERR_BUSY: return "in use by an active task";
    case OD_SRV_ERR_TOO_LARGE: return "request too large";
    case OD_SRV_ERR_AUTH: return "authentication failed";
    case OD_SRV_ERR_NOMEM: return "out of memory";
    case OD_SRV_ERR_IO: return "file system error";
    case OD_SRV_ERR_DB: return "database error";
    case OD_SRV_ERR_GENERATE: return "package generation failed";
    case OD_SRV_ERR_INTERNAL: return "internal error";
    default: return "unknown error";
    }
}

int od_srv_version_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 50)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}
