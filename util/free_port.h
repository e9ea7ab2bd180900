/* free_port.h — a loopback TCP port nothing listens on right now (the kernel's pick for an
 * ephemeral bind, released at once): for local rendezvous (vlkit train --nproc) and tests. */
#ifndef VLKIT_UTIL_FREE_PORT_H
#define VLKIT_UTIL_FREE_PORT_H

/* The port, or -1 with errno set. */
int vk_free_local_port(void);

#endif
