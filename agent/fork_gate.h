/*
 * The fork gate: fork() never copies the agent thread in the middle of its own work. A thread
 * that fork()s while another holds a lock leaves that lock held forever in the child, and the
 * agent thread allocates without the GIL (encoding frames, queueing them to viewers, the maps of a
 * why-alive search). glibc's malloc takes its own locks around fork(), but an interposed allocator
 * or runtime may not (ASan's does not: a child's first malloc then waits forever), nor does any
 * other lock a library takes inside such work.
 *
 * The agent thread holds the gate while it works without the GIL and lets go of it before it
 * blocks (poll) or takes the GIL. A forking thread closes the gate first (os.register_at_fork's
 * `before`), which waits for the agent thread to reach one of those points and keeps it there
 * until the gate opens again (in the parent) or is reset (in the child, which has no agent thread).
 * Work done with the GIL needs no gate: os.fork() holds the GIL, so no such work is under way.
 *
 * Plain C, one gate per process (a pthread mutex). Lock order: the gate before the GIL. No thread
 * waits for the gate while it holds the GIL (a forker lets the GIL go while it waits), so the
 * agent thread may take the GIL inside the gate; it lets the gate go around its host callbacks
 * all the same, so that a fork never waits for a census or a search.
 */
#ifndef LEAKTOP_FORK_GATE_H
#define LEAKTOP_FORK_GATE_H

/* Agent thread: work that may allocate begins (the GIL not held). Waits while a fork is under
 * way. Never fails. */
void lt_fork_gate_enter(void);

/* Agent thread: the work is done, or the thread is about to block or to take the GIL. Only after
 * lt_fork_gate_enter. */
void lt_fork_gate_leave(void);

/* Forking thread, before fork(): waits until the agent thread is out of its work (at most one
 * piece of work: frames and queues, milliseconds) and keeps it out. Release the GIL around this
 * call. Never fails. */
void lt_fork_gate_close(void);

/* Forking thread, after fork() in the parent (or after a failed fork): the agent thread may work
 * again. Only after lt_fork_gate_close. */
void lt_fork_gate_open(void);

/* After fork() in the child: the gate is open and unowned (the child has no agent thread). Only
 * after lt_fork_gate_close in the thread that forked. */
void lt_fork_gate_reset_in_child(void);

#endif
