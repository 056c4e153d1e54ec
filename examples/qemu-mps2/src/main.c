/*
 * main.c - the update step of a bootloader, running otadelta's applier on a
 * Cortex-M3 (QEMU mps2-an385).
 *
 * What a real device does, and where this port does it:
 *   - the running (old) image is in internal flash: linked in by blobs.S;
 *   - the package arrives over a modem in 1 KiB reads at the offset the
 *     applier asks for (modem_read(), shaped like AT+QIOTOTARD=<off>,1024
 *     or an HTTP Range request);
 *   - the new image goes to a second flash slot with erase-before-write
 *     semantics, one 256-byte page at a time (flash_* callbacks on a
 *     RAM-backed slot that refuses to program bytes that are not erased);
 *   - "blocks done" lives in a progress cell that survives a reset; after
 *     one, od_patch_init(..., blocks_done) resumes at that block and the
 *     download restarts at od_patch_offset();
 *   - the applier reads the slot back and checks the target SHA-256; the
 *     port hashes the slot once more and prints it for the host to compare.
 *
 * Build-time switches (-D):
 *   OD_PORT_RESET_AFTER=K  on each of the first OD_PORT_RESETS boots (1 by
 *                          default), cut power at the K-th page program: half
 *                          the page is programmed, then the CPU resets
 *                          through SCB AIRCR.SYSRESETREQ.
 *   OD_PORT_WORK=N         work buffer bytes (default 16 KiB minus the
 *                          state reserve: a 16 KiB total applier budget).
 *   OD_PORT_SYSTICK_HZ=F   SysTick's clock, for the instruction count
 *                          (default 25 MHz, mps2; run.sh sets Stellaris').
 *
 * Output goes through semihosting; the exit status is 0 when the image is
 * written and verified, 10 + (-od_patch_ret) for an applier error, 2 when
 * the download ended early, 3 when the port's own checks fail.
 */
#include <stdint.h>
#include <string.h>

#include "od_patch.h"
#include "port.h"

#ifndef OD_PROFILE_NAME
#define OD_PROFILE_NAME "default"
#endif
#ifndef OD_PORT_PAGE
#define OD_PORT_PAGE 256u
#endif
#ifndef OD_PORT_ERASE
#define OD_PORT_ERASE 4096u
#endif
#ifndef OD_PORT_BOARD /* the QEMU board, for the banner (run.sh's BOARD) */
#define OD_PORT_BOARD "mps2-an385"
#endif
#ifndef OD_PORT_SYSTICK_HZ /* SysTick's clock: 25 MHz on mps2, 12.5 MHz on Stellaris */
#define OD_PORT_SYSTICK_HZ 25000000u
#endif
/* Ticks 2,000,000 instructions take under -icount shift=0 (2 ms). */
#define OD_PORT_CALIB_TICKS (OD_PORT_SYSTICK_HZ / 500u)
#ifndef OD_PORT_WORK
#define OD_PORT_WORK (16384u - OD_PATCH_STATE_RESERVE)
#endif
#ifndef OD_PORT_RESET_AFTER
#define OD_PORT_RESET_AFTER 0
#endif
#ifndef OD_PORT_RESETS
#define OD_PORT_RESETS 1
#endif

#define CHUNK 1024u          /* bytes per modem read */
#define STACK_PAINT 0xC0DEFACEu
#define CELL_MAGIC 0x4F544443u

extern const uint8_t od_blob_old[], od_blob_old_end[], od_blob_pkg[], od_blob_pkg_end[];
extern uint32_t _sstack[], _estack[];

/* The progress cell: on a device, a flash word or EEPROM record written
 * atomically (two alternating copies with a sequence number). */
typedef struct progress_cell {
    uint32_t magic;       /* CELL_MAGIC once initialised */
    uint32_t blocks_done; /* the only thing the applier needs */
    uint8_t pkg_id[8];    /* payload_sha256[0..8) of the package it counts */
    uint32_t boots;       /* for the report */
    uint32_t resets;
} progress_cell;

#define CELL ((volatile progress_cell *)PORT_CELL_ADDR)
#define SLOT ((uint8_t *)PORT_SLOT_ADDR)

typedef struct flash_stats {
    uint32_t progs, erases;
    uint32_t breaches; /* programs of non-erased bytes, misaligned calls */
} flash_stats;

static flash_stats stats;

static uint32_t old_size(void)
{
    return (uint32_t)(od_blob_old_end - od_blob_old);
}

static uint32_t pkg_size(void)
{
    return (uint32_t)(od_blob_pkg_end - od_blob_pkg);
}

/*
 * The download link: returns up to len package bytes from offset, 0 past
 * the end. A cellular module answers "AT+QIOTOTARD=<offset>,<len>" with
 * "+QIOTOTARD: <n>" and n bytes; an HTTP server answers
 * "Range: bytes=<offset>-<offset+len-1>" with 206 and the same bytes.
 */
static uint32_t modem_read(uint32_t offset, uint8_t *buf, uint32_t len)
{
    uint32_t size = pkg_size();
    if (offset >= size)
        return 0;
    if (len > size - offset)
        len = size - offset;
    memcpy(buf, od_blob_pkg + offset, len);
    return len;
}

/* Random access to the running image, wherever the delta copies from. */
static int flash_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    (void)ctx;
    if (off > old_size() || len > old_size() - off)
        return -1;
    memcpy(buf, od_blob_old + off, len);
    return 0;
}

static int flash_erase(void *ctx, uint32_t off, uint32_t len)
{
    flash_stats *s = ctx;
    if (off % OD_PORT_ERASE || len != OD_PORT_ERASE || off > PORT_SLOT_SIZE - len) {
        s->breaches++;
        return -1;
    }
    memset(SLOT + off, 0xFF, len);
    s->erases++;
    return 0;
}

static int flash_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    flash_stats *s = ctx;
    uint32_t i;
    if (off % OD_PORT_PAGE || len != OD_PORT_PAGE || off > PORT_SLOT_SIZE - len) {
        s->breaches++;
        return -1;
    }
    /* NOR flash: programming only clears bits; the page must be erased. */
    for (i = 0; i < len; i++) {
        if (SLOT[off + i] != 0xFF) {
            s->breaches++;
            return -1;
        }
    }
    s->progs++;
    if (OD_PORT_RESET_AFTER && CELL->boots <= OD_PORT_RESETS &&
        s->progs == OD_PORT_RESET_AFTER) {
        /* Power fails in the middle of this program. */
        memcpy(SLOT + off, buf, len / 2);
        CELL->resets++;
        port_puts("power cut during page program at 0x");
        port_put_hex((const uint8_t[]){(uint8_t)(off >> 24), (uint8_t)(off >> 16),
                                       (uint8_t)(off >> 8), (uint8_t)off},
                     4);
        port_puts(": resetting\n");
        port_reset();
    }
    memcpy(SLOT + off, buf, len);
    return 0;
}

static int flash_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    (void)ctx;
    if (off > PORT_SLOT_SIZE || len > PORT_SLOT_SIZE - off)
        return -1;
    memcpy(buf, SLOT + off, len);
    return 0;
}

static od_patch patch;

/* On a device the two fields go into one record, written atomically. */
static int save_progress(void *ctx, uint32_t blocks_done)
{
    const od_pkg_header *h = od_patch_header(&patch);
    (void)ctx;
    for (int i = 0; i < 8; i++)
        CELL->pkg_id[i] = h->payload_sha256[i];
    CELL->blocks_done = blocks_done;
    return 0;
}

/* Whether the cell's progress was saved for the package p is reading. */
static int same_package(const od_patch *p)
{
    const od_pkg_header *h = od_patch_header(p);
    for (int i = 0; i < 8; i++)
        if (CELL->pkg_id[i] != h->payload_sha256[i])
            return 0;
    return 1;
}

static uint32_t *current_sp(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Fills the free stack below the caller with a pattern. */
static __attribute__((noinline)) void paint_stack(void)
{
    uint32_t *p = _sstack, *end = current_sp() - 16;
    while (p < end)
        *p++ = STACK_PAINT;
}

/* Lowest stack address written since paint_stack(). */
static uint32_t *stack_low_water(void)
{
    uint32_t *p = _sstack;
    while (p < _estack && *p == STACK_PAINT)
        p++;
    return p;
}

/* GCC hands inline assembly for Thumb-1 (ARMv6-M) to the assembler in
 * divided syntax, where the flag-setting subtract is spelled "sub". */
#if __ARM_ARCH_ISA_THUMB == 1
#define SPIN_SUB "sub %0, #1"
#else
#define SPIN_SUB "subs %0, %0, #1"
#endif

/* 2n instructions (subs + bne per turn), to calibrate ticks. */
static __attribute__((noinline)) void spin(uint32_t n)
{
    __asm__ volatile("1: " SPIN_SUB "\n bne 1b" : "+r"(n) : : "cc");
}

static void say_kv(const char *key, uint32_t v, const char *unit)
{
    port_puts(key);
    port_put_u(v);
    port_puts(unit);
}

/* Downloads and applies from the cell's block on. */
static int update(od_patch *p, const od_patch_config *cfg)
{
    static uint8_t rx[CHUNK];
    int r = od_patch_init(p, cfg, CELL->blocks_done);
    if (r != OD_PATCH_OK)
        return r;
    for (;;) {
        size_t pos = 0, n = modem_read(od_patch_offset(p), rx, CHUNK);
        if (n == 0)
            return 2; /* package ended without DONE: truncated download */
        do {
            size_t before = pos;
            r = od_patch_feed(p, rx, &pos, n);
            if (r == OD_PATCH_OK && pos == before && pos < n)
                return OD_PATCH_ERR_MISUSE;
        } while (r == OD_PATCH_OK && pos < n);
        /* Progress saved for another package (the server regenerated it)
         * would not fit this one's blocks: start over. Checked as soon as
         * the header is in, which is before anything is written: a resume
         * writes only after its SEEK, and a count equal to the block count
         * goes straight to the read-back, which writes nothing. */
        if (r != OD_PATCH_DONE && CELL->blocks_done && od_patch_header(p) && !same_package(p))
            r = OD_PATCH_ERR_RESUME;
        if (r == OD_PATCH_ERR_RESUME) {
            port_puts("saved progress is another package's: starting from block 0\n");
            CELL->blocks_done = 0;
            if ((r = od_patch_init(p, cfg, 0)) != OD_PATCH_OK)
                return r;
            continue;
        }
        if (r < 0 || r == OD_PATCH_DONE)
            return r;
        /* OK: next chunk; SEEK: od_patch_offset() moved to the block. */
    }
}

int main(void)
{
    static uint8_t work[OD_PORT_WORK] __attribute__((aligned(4)));
    static od_patch_config cfg;
    od_pkg_header hdr;
    od_sha256_ctx sha;
    uint8_t digest[OD_SHA256_LEN];
    uint32_t start, calib_ticks, *feed_sp, *low;
    uint64_t t0, ticks;
    int r;

    paint_stack();
    if (CELL->magic != CELL_MAGIC) {
        /* First power-on: the slot holds stale bytes, not erased flash. */
        uint32_t stale = PORT_SLOT_SIZE;
        if (od_pkg_parse_header(od_blob_pkg, pkg_size(), &hdr) == OD_PKG_OK &&
            hdr.target_size < PORT_SLOT_SIZE - OD_PORT_ERASE)
            stale = (hdr.target_size + OD_PORT_ERASE - 1) / OD_PORT_ERASE * OD_PORT_ERASE;
        memset(SLOT, 0x5A, stale);
        CELL->magic = CELL_MAGIC;
        CELL->blocks_done = 0;
        CELL->boots = 0;
        CELL->resets = 0;
    }
    CELL->boots++;
    start = CELL->blocks_done;
    port_puts("otadelta " OD_PORT_BOARD " port: profile " OD_PROFILE_NAME);
    say_kv(", boot ", CELL->boots, "");
    say_kv(", old image ", old_size(), " B");
    say_kv(", package ", pkg_size(), " B");
    say_kv(", resuming at block ", start, "\n");

    cfg.ctx = &stats;
    cfg.read_old = flash_read_old;
    cfg.erase = flash_erase;
    cfg.write = flash_write;
    cfg.read_new = flash_read_new;
    cfg.save_progress = save_progress;
    cfg.work = work;
    cfg.work_size = sizeof(work);
    cfg.page_size = OD_PORT_PAGE;
    cfg.erase_size = OD_PORT_ERASE;
    cfg.new_capacity = PORT_SLOT_SIZE;
    cfg.old_size = old_size();
    cfg.erased_value = 0xFF;

    /* Ticks per instruction: under -icount shift=0 one instruction is
     * 1 ns of virtual time and SysTick counts at OD_PORT_SYSTICK_HZ (25 MHz
     * on mps2), so 2,000,000 instructions take 50,000 ticks (40 per tick).
     * Without -icount the clock is the host's and no instruction count can
     * be given. */
    port_ticks_start();
    t0 = port_ticks();
    spin(1000000);
    calib_ticks = (uint32_t)(port_ticks() - t0);

    feed_sp = current_sp();
    t0 = port_ticks();
    r = update(&patch, &cfg);
    ticks = port_ticks() - t0;
    low = stack_low_water();

    if (r != OD_PATCH_DONE) {
        port_puts("update failed: ");
        port_puts(r == 2 ? "download ended early" : od_patch_strerror(r));
        say_kv(" (", (uint32_t)-r, ")\n");
        return r == 2 ? 2 : 10 - r;
    }
    {
        const od_pkg_header *h = od_patch_header(&patch);
        say_kv("image written: ", h->target_size, " B");
        say_kv(" in ", h->block_count, " blocks");
        say_kv(", codec ", h->codec, "");
        say_kv(", page programs ", stats.progs, "");
        say_kv(", erases ", stats.erases, " (this boot)\n");
        say_kv("ram: sizeof(od_patch) ", (uint32_t)sizeof(od_patch), " B");
        say_kv(", ram_needed ", h->ram_needed, " B");
        say_kv(" (work buffer ", (uint32_t)sizeof(work), " B)\n");
        /* The applier verified its read-back; hash the slot once more,
         * independently, for the host to compare with sha256sum. */
        od_sha256_init(&sha);
        od_sha256_update(&sha, SLOT, h->target_size);
        od_sha256_final(&sha, digest);
        port_puts("sha256 ");
        port_put_hex(digest, OD_SHA256_LEN);
        if (memcmp(digest, h->target_sha256, OD_SHA256_LEN) != 0 || stats.breaches) {
            port_puts(" MISMATCH or flash contract breach\n");
            return 3;
        }
        port_puts(" verified\n");
        say_kv("stack: ", (uint32_t)((char *)_estack - (char *)low), " B high-water in all, ");
        say_kv("", (uint32_t)((char *)feed_sp - (char *)low),
               " B below the update loop (applier + callbacks)\n");
        say_kv("boots ", CELL->boots, "");
        say_kv(", power cuts ", CELL->resets, "\n");
        if (calib_ticks >= OD_PORT_CALIB_TICKS - OD_PORT_CALIB_TICKS / 100 &&
            calib_ticks <= OD_PORT_CALIB_TICKS + OD_PORT_CALIB_TICKS / 100 && start == 0) {
            /* Instructions per tick calibrated above. */
            uint64_t insns = ticks * 2000000u / calib_ticks;
            say_kv("instructions: ", (uint32_t)insns, "");
            say_kv(" total, ", (uint32_t)(insns / (h->target_size ? h->target_size : 1)),
                   " per output byte (download copy, decode, flash, read-back verify)\n");
        } else {
            say_kv("instructions: not counted (calibration ", calib_ticks,
                   " ticks; run with -icount shift=0 from block 0)\n");
        }
    }
    CELL->magic = 0; /* the next power-on starts a fresh run */
    return 0;
}
