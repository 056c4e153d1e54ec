/*
 * od_srv_waker.c - how the server's background threads (generation
 * workers, push delivery) sleep, are woken and are stopped.
 *
 * A kick is counted rather than only signalled: a job queued while every
 * worker is busy must still wake one, even though none was waiting at
 * that moment.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <time.h>

void od_srv_waker_init(od_srv_waker *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->stop = 0;
    w->kicks = 0;
}

void od_srv_waker_destroy(od_srv_waker *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

void od_srv_waker_kick(od_srv_waker *w)
{
    pthread_mutex_lock(&w->mu);
    w->kicks++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void od_srv_waker_stop(od_srv_waker *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int od_srv_waker_stopping(od_srv_waker *w)
{
    int stop;
    pthread_mutex_lock(&w->mu);
    stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

void od_srv_waker_wait(od_srv_waker *w, unsigned ms)
{
    pthread_mutex_lock(&w->mu);
    if (!w->stop && w->kicks == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    if (w->kicks)
        w->kicks--;
    pthread_mutex_unlock(&w->mu);
}
