/*
 * od_srv_fleet.h - a simulated device fleet for otadelta-server.
 *
 * Each simulated device behaves like OneNET device code driving the real
 * applier (patch/od_patch.h): it reports its version, polls for a task
 * with jitter, checks its token, downloads the package in Range chunks
 * (1 KiB by default) and feeds them to od_patch_feed() with its old image
 * behind read_old and a RAM "flash" behind write/read_new, reports
 * progress and the result, then reports its new version. Faults can be
 * injected per chunk: a dropped connection, a corrupted byte (the
 * applier's block CRC catches it and the device restarts from its last
 * finished block) and a power cut (the applier is re-initialised from the
 * persisted block count and the download resumes at that block's offset).
 *
 * Devices run on a pool of threads, one device at a time per thread and
 * one keep-alive connection per thread.
 */
#ifndef OD_SRV_FLEET_H
#define OD_SRV_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "od_srv_hcli.h"

/* One population of devices sharing an old image. */
typedef struct od_srv_fleet_pop {
    const int64_t *dev_ids;  /* server device ids */
    unsigned n;
    const uint8_t *old_img;  /* the image each device runs now */
    size_t old_len;
    const char *old_version; /* reported before polling */
} od_srv_fleet_pop;

typedef struct od_srv_fleet_cfg {
    uint16_t port;              /* server on 127.0.0.1:port */
    const od_srv_hcli_io *io;   /* e.g. TLS; NULL = plain HTTP */
    int64_t product_id;
    const char *product_key;    /* base64 access key: tokens are signed with it */
    od_srv_fleet_pop pops[4];   /* up to four populations */
    unsigned npops;
    const uint8_t *new_img;     /* what every device must end up with */
    size_t new_len;
    const char *new_version;
    unsigned threads;           /* concurrent devices, 1..256 */
    unsigned chunk;             /* Range size in bytes; 0 = 1024 */
    unsigned jitter_ms;         /* random delay before a device's first poll */
    unsigned poll_ms;           /* wait between polls while no task / paused */
    unsigned deadline_s;        /* give up after this many seconds; 0 = 120 */
    /* Fault rates per downloaded chunk, in 1/1000. */
    unsigned drop_permille, corrupt_permille, powercut_permille;
    unsigned seed;
} od_srv_fleet_cfg;

typedef struct od_srv_fleet_result {
    unsigned devices;
    unsigned succeeded;   /* applied, image identical to new_img, 201 accepted */
    unsigned failed;      /* gave up or the server refused */
    unsigned bad_image;   /* DONE but the image differs (must stay 0) */
    unsigned timed_out;
    uint64_t requests, bytes, drops, corrupts, powercuts, paused_waits, resumes;
    double seconds;
    /* Per device, in the order of the populations: 1 succeeded, 0 not. */
    unsigned char *dev_ok; /* malloc()'d; free with od_srv_fleet_free */
} od_srv_fleet_result;

/* Devices that have downloaded at least one chunk so far (for tests that
 * act "mid-flight"); safe to read from another thread while running. */
unsigned od_srv_fleet_started(void);

/* Runs the fleet to completion or deadline. Returns 0 if every device
 * succeeded, 1 otherwise, -1 on a setup error. res is always filled. */
int od_srv_fleet_run(const od_srv_fleet_cfg *cfg, od_srv_fleet_result *res);

void od_srv_fleet_free(od_srv_fleet_result *res);

#endif /* OD_SRV_FLEET_H */
