/* verb-vm.c: `ptctl vm run|start|list|stop|console`: ptctl's own KVM virtual machines from the command
 * line. Each running VM holds a lock and a control socket in /run/ptctl/vm/NAME/ (through the root). */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "util/assigned.h"
#include "util/log.h"
#include "util/output.h"
#include "util/pciaddr.h"
#include "util/root.h"
#include "util/state.h"
#include "verb-cfg.h"
#include "verb.h"
#include "vfio/vfio.h"
#include "vm/vm.h"

#define VM_DIR STATE_DIR "/vm"

/* Statuses beyond 0/1/2: how the guest ended (vm_exit_status()). */
#define VM_EXIT_STATUS_HELP                                                                                   \
	"EXIT STATUS (run)\n"                                                                                  \
	"    0 the guest powered off (ACPI S5)      3 the guest rebooted (i8042, ACPI reset, triple fault)\n"  \
	"    4 the guest panicked (\"Kernel panic - not syncing\" on the console)\n"                             \
	"    5 stopped from outside (ptctl vm stop, SIGINT, SIGTERM)\n"                                        \
	"    1 the VM could not start or the VMM gave up   2 bad usage or input (not a bzImage, too much memory)\n"

#define MAX_ASSIGN 8
#define MAX_NICS 8

struct vm_opts {
	const char *name, *kernel, *initrd, *cmdline;
	uint64_t memory, hugepage_size;
	enum vm_ram_backing backing;
	unsigned cpus;
	bool prefault;
	bool keep_bound;
	size_t nassign;
	char assign[MAX_ASSIGN][PCI_ADDR_STRLEN]; /* canonical addresses */
	bool moved[MAX_ASSIGN];                  /* moved to vfio-pci for this VM (returned at the end) */
	size_t nnics;
	struct vm_nic_config nics[MAX_NICS];     /* tap names point into argv */
};

static int vm_path(char *buf, size_t len, const char *name, const char *file)
{
	return root_path(buf, len, VM_DIR "/%s%s%s", name, file ? "/" : "", file ? file : "");
}

/* What the option parsers return when the verb goes on: outside the exit statuses (0-255) and the
 * errno range, so no status or error can be mistaken for it. */
#define GO_ON 256

/* One VM option (the getopt character and its argument): shared by the command line and by
 * --from-config, which feeds the [VM] section's keys through here so both take the same checks. */
static int set_run_opt(const struct verb_ctx *ctx, const char *verb, int c, char *arg, struct vm_opts *o)
{
	struct pci_addr pa;
	int n;

	switch (c) {
	case 'k': o->kernel = arg; break;
	case 'i': o->initrd = arg; break;
	case 'c': o->cmdline = arg; break;
	case 'm':
		if (parse_size(arg, &o->memory) < 0 || o->memory < (16ull << 20) || o->memory % (2ull << 20))
			return verb_usage_error(ctx, verb, "--memory '%s': give a size of at least 16M in whole 2M "
					       "units, e.g. 512M or 2G", arg);
		break;
	case 'p':
		if (parse_int(arg, &n) < 0 || n < 1 || n > VM_MAX_CPUS)
			return verb_usage_error(ctx, verb, "--cpus '%s': give 1 to %d", arg, VM_MAX_CPUS);
		o->cpus = (unsigned)n;
		break;
	case 'P':
		o->prefault = true;
		break;
	case 'B': {
		static const char *const names[] = { "auto", "anon", "memfd", "hugetlb-2m", "hugetlb-1g" };
		size_t i = 0;
		while (i < ARRAY_SIZE(names) && strcasecmp(arg, names[i]))
			i++;
		if (i == ARRAY_SIZE(names))
			return verb_usage_error(ctx, verb, "--backing '%s': give auto, anon, memfd, hugetlb-2m or hugetlb-1g",
						arg);
		o->backing = (enum vm_ram_backing)i;
		break;
	}
	case 'A':
		if (pci_addr_parse(arg, &pa) < 0)
			return verb_usage_error(ctx, verb, "--assign '%s': not a PCI address (expected DDDD:BB:DD.F, "
					       "e.g. 0000:03:00.0)", arg);
		if (o->nassign == MAX_ASSIGN)
			return verb_usage_error(ctx, verb, "--assign: at most %d devices", MAX_ASSIGN);
		pci_addr_format(&pa, o->assign[o->nassign]);
		for (size_t i = 0; i < o->nassign; i++)
			if (streq(o->assign[i], o->assign[o->nassign]))
				return verb_usage_error(ctx, verb, "--assign %s: given twice", o->assign[i]);
		o->nassign++;
		break;
	case 'K':
		o->keep_bound = true;
		break;
	case 'N': {
		char spec[256];
		const char *why = NULL;
		struct vm_nic_config *nic = &o->nics[o->nnics];

		snprintf(spec, sizeof(spec), "%s", arg); /* for the message: parsing splits arg */
		if (o->nnics == MAX_NICS)
			return verb_usage_error(ctx, verb, "--nic: at most %d NICs", MAX_NICS);
		if (vm_nic_parse(arg, nic, &why) < 0)
			return verb_usage_error(ctx, verb, "--nic '%s': %s", spec, why);
		for (size_t i = 0; nic->tap && i < o->nnics; i++)
			if (o->nics[i].tap && streq(o->nics[i].tap, nic->tap))
				return verb_usage_error(ctx, verb, "--nic '%s': tap %s is already another NIC's", spec,
							nic->tap);
		o->nnics++;
		break;
	}
	case 'H':
		if (streq(arg, "2m") || streq(arg, "2M"))
			o->hugepage_size = 2ull << 20;
		else if (streq(arg, "1g") || streq(arg, "1G"))
			o->hugepage_size = 1ull << 30;
		else
			return verb_usage_error(ctx, verb, "--hugepages '%s': give 2m or 1g", arg);
		break;
	default:
		return verb_usage_error(ctx, verb, "unknown option");
	}
	return GO_ON;
}

/* The VM NAME of the configuration files as the options its [VM] section stands for. The
 * configuration stays loaded for the life of the process (the options point into it). */
static struct cfg *from_config_cfg;
static int set_opts_from_config(const struct verb_ctx *ctx, const char *verb, const char *dir, struct vm_opts *o)
{
	const struct cfg_object *vm;
	char addr[PCI_ADDR_STRLEN];
	int r = verb_cfg_load(verb, dir, &from_config_cfg);

	if (r != EXIT_OK)
		return r;
	vm = cfg_find_vm(from_config_cfg, o->name);
	if (!vm) {
		log_error("%s: no [VM] section with Name=%s in the configuration (see ptctl config show)", o->name, o->name);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < vm->n_entries; i++) {
		const struct cfg_entry *e = &vm->entries[i];
		static const struct { const char *key; int opt; } map[] = {
			{ "Kernel", 'k' }, { "Initrd", 'i' }, { "CommandLine", 'c' }, { "Memory", 'm' },
			{ "CPUs", 'p' },   { "HugePages", 'H' }, { "NIC", 'N' },
		};
		bool off = false;
		for (size_t k = 0; k < ARRAY_SIZE(map); k++) {
			if (!streq(e->key, map[k].key))
				continue;
			if (map[k].opt == 'H' && cfg_parse_bool(e->value, &off) >= 0 && !off)
				continue; /* HugePages=no */
			if (map[k].opt == 'N' && streq(e->value, "none"))
				continue;
			if ((r = set_run_opt(ctx, verb, map[k].opt, e->value, o)) != GO_ON)
				return log_error("%s: %s:%u: %s=%s", o->name, e->file, e->line, e->key, e->value), r;
		}
	}
	for (size_t i = 0; i < vm->vm.n_assign; i++) {
		r = cfg_assign_resolve(&vm->vm.assign[i], addr);
		if (r < 0) {
			log_error("%s: %s:%u: Assign=%s: %s (run ptctl apply first; see ptctl status)", o->name,
				  vm->vm.assign[i].file, vm->vm.assign[i].line, vm->vm.assign[i].text,
				  r == -ENODEV ? "no such device (yet)" : strerror(-r));
			return EXIT_FAIL;
		}
		if ((r = set_run_opt(ctx, verb, 'A', addr, o)) != GO_ON)
			return r;
	}
	/* The configuration binds the devices (apply); the VM must not hand them back when it ends. */
	o->keep_bound = o->nassign > 0;
	return GO_ON;
}

static int parse_run_opts(int argc, char **argv, const struct verb_ctx *ctx, const char *verb, struct vm_opts *o)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' }, { "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },    { "hugepages", required_argument, NULL, 'H' },
		{ "prefault", no_argument, NULL, 'P' },      { "assign", required_argument, NULL, 'A' },
		{ "keep-bound", no_argument, NULL, 'K' },    { "nic", required_argument, NULL, 'N' },
		{ "from-config", no_argument, NULL, 'F' },   { "config", required_argument, NULL, 'C' },
		{ "backing", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	bool from_config = false, other = false;
	int c, r;

	*o = (struct vm_opts){ .cmdline = "console=ttyS0", .memory = 512ull << 20, .cpus = 1 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'F')
			from_config = true;
		else if (c == 'C')
			dir = optarg;
		else if (other = true, (r = set_run_opt(ctx, verb, c, optarg, o)) != GO_ON)
			return r;
	}
	if (optind + 1 != argc)
		return verb_usage_error(ctx, verb, optind >= argc ? "a VM name is required" : "unexpected argument '%s'",
					argv[optind + (optind < argc)]);
	o->name = argv[optind];
	if (!vm_name_valid(o->name))
		return verb_usage_error(ctx, verb, "'%s' is not a VM name (1-32 of A-Z a-z 0-9 - _ .)", o->name);
	if (dir && !from_config)
		return verb_usage_error(ctx, verb, "--config goes with --from-config");
	if (from_config && other)
		return verb_usage_error(ctx, verb, "--from-config takes every setting from the [VM] section; give no "
				       "other VM options");
	if (from_config && (r = set_opts_from_config(ctx, verb, dir, o)) != GO_ON)
		return r;
	if (!o->kernel)
		return verb_usage_error(ctx, verb, "--kernel is required");
	if (o->keep_bound && !o->nassign)
		return verb_usage_error(ctx, verb, "--keep-bound goes with --assign");
	if (o->hugepage_size && o->memory % o->hugepage_size)
		return verb_usage_error(ctx, verb, "--memory must be a multiple of the huge page size");
	return GO_ON;
}

/* The VM's directory and its lock: held for the VMM's lifetime, so a held lock means "running". */
static int take_name(const char *name, int *ret_lock)
{
	char dir[PATH_MAX], p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = vm_path(dir, sizeof(dir), name, NULL)) < 0 || (r = vm_path(p, sizeof(p), name, "lock")) < 0)
		return r;
	r = root_mkdir_p(VM_DIR, 0755);
	if (r < 0)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return negative_errno();
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
	*ret_lock = TAKE_FD(fd);
	return 0;
}

/* Is NAME's VMM alive? 1 yes, 0 no (or no such VM). */
static int name_running(const char *name)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;

	if (vm_path(p, sizeof(p), name, "lock") < 0)
		return 0;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	return 0;
}

static void format_bytes(char *buf, size_t len, uint64_t v)
{
	format_size(buf, len, v);
}

static int write_info(const struct vm_opts *o, const struct vm *vm, const char *log_path)
{
	char p[PATH_MAX], mem[32];
	_cleanup_free_ char *s = NULL;
	struct vm_ram_info ram = { .backing = "", .reason = "" };
	int r = vm_path(p, sizeof(p), o->name, "info");

	if (r < 0)
		return r;
	format_bytes(mem, sizeof(mem), o->memory);
	vm_ram_info(vm, &ram);
	/* What backs guest RAM and why: for `vm show` (ram_page_size in bytes). */
	if (asprintf(&s, "pid=%ld\ncpus=%u\nmemory=%" PRIu64 "\nram_backing=%s\nram_page_size=%" PRIu64
		     "\nram_transparent=%d\nram_why=%s\nkernel=%s\ninitrd=%s\ncmdline=%s\nconsole=%s\nstarted=%lld\n",
		     (long)getpid(), o->cpus, o->memory, ram.backing, ram.page_size, ram.transparent, ram.reason,
		     o->kernel, o->initrd ? o->initrd : "", o->cmdline,
		     log_path ? log_path : "", (long long)time(NULL)) < 0)
		return -ENOMEM;
	/* root_write_atomic takes a host path and adds the root itself. */
	return root_write_atomic(p + strlen(root_get()), s, 0644);
}

static void remove_info(const char *name)
{
	char p[PATH_MAX];
	if (vm_path(p, sizeof(p), name, "info") >= 0)
		unlink(p);
}

/* One error line for a VM that could not be created; returns the exit status. */
static int report_new_error(const struct vm_opts *o, int r, const char *why)
{
	char want[32], have[32];
	uint64_t avail = 0;

	if (r == -ENOEXEC)
		return log_error("%s: %s: %s", o->name, o->kernel, why ? why : "not a bzImage"), EXIT_USAGE;
	if (r == -ENOMEM && why && strstr(why, "available") && vm_host_memory_available(&avail) >= 0) {
		format_bytes(want, sizeof(want), o->memory);
		snprintf(have, sizeof(have), "%" PRIu64 "M", avail >> 20);
		log_error("%s: --memory %s is more than the host has available (%s); give less", o->name, want, have);
		return EXIT_USAGE;
	}
	/* Reading the files: the path and the reason, "cannot read the kernel" alone says neither. */
	if (why && (startswith(why, "cannot read the") || strstr(why, "not a regular file"))) {
		bool initrd = strstr(why, "initrd") != NULL;
		return log_error("%s: %s: %s: %s", o->name, initrd ? o->initrd : o->kernel, why,
				 r == -EINVAL ? "give a regular file" : strerror(-r)),
		       r == -ENOENT || r == -EISDIR || r == -EINVAL || r == -EACCES ? EXIT_USAGE : EXIT_FAIL;
	}
	if (r == -ENOMEM || r == -E2BIG || r == -EINVAL) {
		log_error("%s: %s", o->name, why ? why : strerror(-r));
		return EXIT_USAGE;
	}
	if (why && (strstr(why, "initrd") || strstr(why, "kernel")))
		return log_error("%s: %s (%s): %s", o->name, why, strstr(why, "initrd") ? o->initrd : o->kernel,
				 strerror(-r)), r == -ENOENT || r == -EISDIR ? EXIT_USAGE : EXIT_FAIL;
	log_error("%s: %s: %s", o->name, why ? why : "cannot create the VM", strerror(-r));
	return EXIT_FAIL;
}

/* The handler only loads and stores lock-free atomics and calls vm_request_stop(), which is
 * async-signal-safe; errno is kept for the code it interrupted. */
static struct vm *_Atomic signal_vm;
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "the signal handler needs a lock-free pointer");
static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig)
{
	struct vm *vm = atomic_load(&signal_vm);
	int saved = errno;

	(void)sig;
	stop_requested = 1;
	if (vm)
		vm_request_stop(vm);
	errno = saved;
}

/* Every --assign device prepared as `ptctl bind` would, and recorded for this VM; all or none. */
static int assign_devices(struct vm_opts *o)
{
	for (size_t i = 0; i < o->nassign; i++) {
		_cleanup_free_ char *why = NULL;
		int r = vm_assign_prepare(o->assign[i], o->name, (long)getpid(), &o->moved[i], &why);
		if (r < 0) {
			log_error("%s", why ? why : strerror(-r));
			o->nassign = i; /* hand back the ones before it */
			return r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

/* Devices `ptctl assign` plugged into this VM while it ran and that were still there at its end. */
static char hot_addr[32][PCI_ADDR_STRLEN];
static bool hot_moved[32];
static size_t nhot;

/* After the VM is gone (every VFIO fd closed, the devices reset): records removed, and the devices
 * this VM moved to vfio-pci back on their original drivers unless --keep-bound. */
static void return_devices(const struct vm_opts *o)
{
	for (size_t i = nhot; i-- > 0;) {
		_cleanup_free_ char *why = NULL;
		int r = vm_assign_finish(hot_addr[i], hot_moved[i] && !o->keep_bound, &why);
		if (r < 0)
			log_error("%s (it stays on vfio-pci; 'ptctl release %s' returns it)", why ? why : strerror(-r),
				  hot_addr[i]);
	}
	for (size_t i = o->nassign; i-- > 0;) {
		_cleanup_free_ char *why = NULL;
		int r = vm_assign_finish(o->assign[i], o->moved[i] && !o->keep_bound, &why);
		if (r < 0)
			log_error("%s (it stays on vfio-pci; 'ptctl release %s' returns it)", why ? why : strerror(-r),
				  o->assign[i]);
	}
}

/* The control socket's `show`: the VM as vm_show_json() sees it, on one line. */
static int control_show(struct vm *vm, const char *args, char **reply, void *opaque)
{
	_cleanup_json_ json_object *o = NULL;
	int r;

	(void)args;
	(void)opaque;
	r = vm_show_json(vm, &o);
	if (r < 0)
		return r;
	*reply = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return *reply ? 0 : -ENOMEM;
}

/* Creates and runs the VM; returns the exit status. The VM is freed (devices closed) on return. */
static int run_vm(const struct vm_opts *o, bool background, int notify_fd, const char *sock, const char *logp,
		  int log_fd)
{
	_cleanup_vm_ struct vm *vm = NULL;
	const char *why = NULL, *assign[MAX_ASSIGN];
	enum vm_exit_reason reason;
	int r, status;

	for (size_t i = 0; i < o->nassign; i++)
		assign[i] = o->assign[i];
	struct vm_config cfg = {
		.name = o->name, .kernel = o->kernel, .initrd = o->initrd, .cmdline = o->cmdline,
		.memory = o->memory, .cpus = o->cpus, .hugepage_size = o->hugepage_size,
		.prefault = o->prefault, .backing = o->backing,
		.console_in = background ? -1 : STDIN_FILENO,
		.console_out = background ? log_fd : STDOUT_FILENO,
		.assign = o->nassign ? assign : NULL, .nassign = o->nassign,
		.nics = o->nnics ? o->nics : NULL, .nnics = o->nnics,
	};
	r = vm_new(&cfg, &vm, &why);
	if (r < 0)
		return report_new_error(o, r, why);
	atomic_store(&signal_vm, vm);
	if (stop_requested) {
		atomic_store(&signal_vm, NULL);
		return log_info("%s: stopped before it ran", o->name), vm_exit_status(VM_EXIT_STOPPED);
	}
	r = vm_control_register(vm, "show", control_show, NULL);
	if (r >= 0)
		r = vm_control_listen(vm, sock);
	if (r < 0)
		return log_error("%s: cannot create the control socket %s: %s", o->name, sock, strerror(-r)), EXIT_FAIL;
	r = write_info(o, vm, background ? logp : NULL);
	if (r < 0)
		return log_error("%s: cannot record it under %s/vm: %s", o->name, STATE_DIR, strerror(-r)), EXIT_FAIL;

	if (notify_fd >= 0) {
		if (write(notify_fd, "ok\n", 3) < 0)
			log_debug("notify: %m");
		close(notify_fd);
		/* The starter has stopped listening: later messages (how the guest ended, what a stopped vCPU
		 * was doing) go to the console log, after the guest's own lines. */
		if (log_fd >= 0)
			dup2(log_fd, STDERR_FILENO);
	}
	r = vm_run(vm, &reason);
	atomic_store(&signal_vm, NULL);
	nhot = vm_hotplug_assigned(vm, hot_addr, hot_moved, ARRAY_SIZE(hot_addr));
	remove_info(o->name);
	if (r < 0)
		return log_error("%s: cannot run: %s", o->name, strerror(-r)), EXIT_FAIL;
	status = vm_exit_status(reason);
	if (reason == VM_EXIT_ERROR)
		log_error("%s: the VMM stopped the guest: %s", o->name, *vm_exit_why(vm) ? vm_exit_why(vm) : "unknown error");
	else if (reason == VM_EXIT_REBOOT && *vm_exit_why(vm))
		log_info("%s: the guest rebooted: %s (exit status %d)", o->name, vm_exit_why(vm), status);
	else if (reason == VM_EXIT_STOPPED && *vm_exit_why(vm))
		log_info("%s: stopped; %s (exit status %d)", o->name, vm_exit_why(vm), status);
	else if (reason != VM_EXIT_POWEROFF)
		log_info("%s: %s (exit status %d)", o->name,
			 reason == VM_EXIT_REBOOT  ? "the guest rebooted"
			 : reason == VM_EXIT_PANIC ? "the guest kernel panicked"
						   : "stopped",
			 status);
	return status;
}

/* Sets up and runs one VM in this process. notify_fd (background start) gets "ok" or the error line
 * and is closed once the VM runs; errors go to stderr otherwise. Returns the exit status. Devices given
 * with --assign are returned however the VM ends, short of SIGKILL (then `ptctl release` does it). */
static int launch(struct vm_opts *o, bool background, int notify_fd)
{
	char sock[PATH_MAX], logp[PATH_MAX];
	_cleanup_close_ int lock = -1, log_fd = -1;
	struct sigaction sa = { .sa_handler = on_stop_signal };
	int r, status;

	r = take_name(o->name, &lock);
	if (r == -EBUSY) {
		log_error("%s: a VM of that name is already running; stop it with 'ptctl vm stop %s' or pick another name",
			  o->name, o->name);
		return EXIT_FAIL;
	}
	if (r < 0)
		return log_error("%s: cannot create its state under %s/vm: %s", o->name, STATE_DIR, strerror(-r)), EXIT_FAIL;
	if ((r = vm_path(sock, sizeof(sock), o->name, "control")) < 0 ||
	    (r = vm_path(logp, sizeof(logp), o->name, "console.log")) < 0)
		return log_error("%s: state path too long", o->name), EXIT_FAIL;
	if (background) {
		log_fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (log_fd < 0)
			return log_error("%s: cannot create %s: %m", o->name, logp), EXIT_FAIL;
	}
	/* From here on a stop request ends the VM the orderly way, so devices find their way back. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a console reader that goes away must not take the VM with it */
	status = assign_devices(o);
	if (status == EXIT_OK)
		status = run_vm(o, background, notify_fd, sock, logp, log_fd);
	return_devices(o);
	return status;
}

/* ---- --dry-run ---- */

/* One step of the plan for an --assign device (the rows of `ptctl bind --dry-run`). */
static int plan_row(json_object *plan, const char *dev, const char *action, const char *file, const char *value)
{
	json_object *row = json_object_new_object();
	int r;

	if (!row || json_object_array_add(plan, row) < 0) {
		json_object_put(row);
		return -ENOMEM;
	}
	if ((r = json_add_str(row, "device", dev)) < 0 || (r = json_add_str(row, "action", action)) < 0 ||
	    (r = json_add_str(row, "file", file)) < 0)
		return r;
	return json_add_str(row, "value", value);
}

/* The --assign devices: each as `ptctl bind --dry-run` plans it (IOMMU group viable, not in use, the
 * original driver), and not assigned to a running VM. Nothing is written. */
static int plan_devices(const struct vm_opts *o, json_object *plan)
{
	for (size_t i = 0; i < o->nassign; i++) {
		struct vfio_bind_opts bo = { .dry_run = true };
		struct vfio_bind_result res = { 0 };
		struct assignment a;
		struct pci_addr pa;
		int r;

		if (assigned_read(o->assign[i], &a) > 0 && a.running)
			return log_error("%s: assigned to VM %s (pid %ld), which is running: stop it first ('ptctl vm "
					 "stop %s')", o->assign[i], a.vm, a.pid, a.vm),
			       EXIT_FAIL;
		if (pci_addr_parse(o->assign[i], &pa) < 0)
			return EXIT_USAGE; /* canonical already: set_run_opt parsed it */
		r = vfio_bind(&pa, &bo, &res);
		if (r < 0) {
			int status = res.failure == VFIO_BIND_BAD_INPUT ? EXIT_USAGE : EXIT_FAIL;
			log_error("%s: %s", *res.object ? res.object : o->assign[i], res.reason ? res.reason : strerror(-r));
			vfio_bind_result_clear(&res);
			return status;
		}
		for (size_t k = 0; k < res.n_steps && r >= 0; k++) {
			const struct vfio_bind_step *st = &res.steps[k];
			r = plan_row(plan, st->dev, st->action, st->file,
				     st->value && streq(st->value, "\n") ? "(clear)" : st->value);
		}
		if (r >= 0 && !res.n_steps)
			r = plan_row(plan, o->assign[i], "use", NULL, "on vfio-pci already");
		vfio_bind_result_clear(&res);
		if (r < 0)
			return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* What --nic needs from the host: /dev/net/tun for every tap, /dev/vhost-net for vhost. Opened and
 * closed, nothing more: a tap is not made. */
static int check_nic_devices(const struct vm_opts *o)
{
	for (size_t i = 0; i < o->nnics; i++) {
		const char *model = vm_nic_model_to_string(o->nics[i].model);
		const char *need[2][2] = { { "/dev/net/tun", "tun" }, { "/dev/vhost-net", "vhost_net" } };
		for (size_t k = 0; k < (o->nics[i].model == VM_NIC_VHOST ? 2u : 1u); k++) {
			int fd = root_open(need[k][0], O_RDWR | O_CLOEXEC, 0);
			if (fd < 0)
				return log_error("%s: --nic %s: cannot open %s: %s%s%s%s", o->name, model, need[k][0],
						 strerror(-fd), fd == -ENOENT ? " (load the " : "",
						 fd == -ENOENT ? need[k][1] : "", fd == -ENOENT ? " module)" : ""),
				       EXIT_FAIL;
			close(fd);
		}
	}
	return EXIT_OK;
}

/* What `vm run`/`vm start` would do, checked as far as it goes without a change on the host: the VM is
 * built for real (KVM, guest RAM, the kernel and initrd loaded, ACPI tables, vCPUs) and freed before it
 * runs; every --assign device gets `ptctl bind --dry-run`'s plan; NICs are described and what they need
 * opened (tun, vhost-net), their taps not made.
 * Nothing is recorded under /run/ptctl. */
static int vm_dry_run(const struct vm_opts *o)
{
	_cleanup_json_ json_object *obj = json_object_new_object(), *plan = json_object_new_array(),
				   *nics = json_object_new_array();
	struct vm_config cfg = {
		.name = o->name, .kernel = o->kernel, .initrd = o->initrd, .cmdline = o->cmdline,
		.memory = o->memory, .cpus = o->cpus, .hugepage_size = o->hugepage_size, .backing = o->backing,
		.console_in = -1, .console_out = -1,
	};
	_cleanup_vm_ struct vm *vm = NULL;
	struct vm_ram_info ram = { .backing = "?" };
	const char *why = NULL;
	int r;

	if (!obj || !plan || !nics)
		return EXIT_FAIL;
	if (name_running(o->name))
		return log_error("%s: a VM of that name is already running; stop it with 'ptctl vm stop %s' or pick "
				 "another name", o->name, o->name),
		       EXIT_FAIL;
	/* The devices first, as a real start takes them before it builds the VM. */
	if ((r = plan_devices(o, plan)) != EXIT_OK || (r = check_nic_devices(o)) != EXIT_OK)
		return r;
	r = vm_new(&cfg, &vm, &why);
	if (r < 0)
		return report_new_error(o, r, why);
	vm_ram_info(vm, &ram);
	for (size_t i = 0; i < o->nnics; i++) {
		json_object *n = json_object_new_object();
		if (!n || json_object_array_add(nics, n) < 0)
			return json_object_put(n), EXIT_FAIL;
		if (json_add_str(n, "model", vm_nic_model_to_string(o->nics[i].model)) < 0 ||
		    json_add_str(n, "tap", o->nics[i].tap ? o->nics[i].tap : "ptctlN (made, and removed at the end)") < 0)
			return EXIT_FAIL;
	}
	if (json_add_str(obj, "name", o->name) < 0 || json_add_str(obj, "kernel", o->kernel) < 0 ||
	    json_add_str(obj, "initrd", o->initrd) < 0 || json_add_str(obj, "cmdline", o->cmdline) < 0 ||
	    json_add_int(obj, "memory", (int64_t)o->memory) < 0 || json_add_int(obj, "cpus", o->cpus) < 0 ||
	    json_add_str(obj, "backing", ram.backing) < 0 || json_add_int(obj, "page_size", (int64_t)ram.page_size) < 0 ||
	    json_add(obj, "devices", json_object_get(plan)) < 0 ||
	    json_add_str(obj, "devices_at_end", !o->nassign     ? NULL
						 : o->keep_bound ? "stay on vfio-pci"
								 : "back to the drivers they had") < 0 ||
	    json_add(obj, "nics", json_object_get(nics)) < 0 ||
	    json_add_str(obj, "result", "dry run: the VM was built and freed, nothing changed") < 0)
		return EXIT_FAIL;
	return out_record(stdout, obj) < 0 ? EXIT_FAIL : EXIT_OK;
}

static int vm_run_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	struct vm_opts o;
	int r = parse_run_opts(argc, argv, ctx, "vm run", &o);
	if (r != GO_ON)
		return r;
	if (ctx->dry_run)
		return vm_dry_run(&o);
	if (ctx->json)
		return verb_usage_error(ctx, "vm run", "--json goes with --dry-run: the guest's console is on stdout");
	/* Console output interleaves with our own lines on the terminal: no buffering. */
	setvbuf(stdout, NULL, _IONBF, 0);
	return launch(&o, false, -1);
}

/* The parent waits for the child to report "ok" (the VM runs) or the error it printed. */
static int vm_start_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	struct vm_opts o;
	int r = parse_run_opts(argc, argv, ctx, "vm start", &o), p[2], err[2];
	char buf[512], logp[PATH_MAX];
	ssize_t n;
	pid_t pid;

	if (r != GO_ON)
		return r;
	if (ctx->dry_run)
		return vm_dry_run(&o);
	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return log_error("%s: %m", o.name), EXIT_FAIL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return log_error("%s: cannot fork: %m", o.name), EXIT_FAIL;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		close(p[0]);
		close(err[0]);
		setsid();
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO); /* setup errors reach the parent; later ones are lost with it */
		close(err[1]);
		r = launch(&o, true, p[1]);
		_exit(r);
	}
	close(p[1]);
	close(err[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	if (n == 3 && memcmp(buf, "ok\n", 3) == 0) {
		close(err[0]);
		vm_path(logp, sizeof(logp), o.name, "console.log");
		if (ctx->json) {
			_cleanup_json_ json_object *j = json_object_new_object();
			if (!j || json_add_str(j, "name", o.name) < 0 || json_add_int(j, "pid", pid) < 0 ||
			    json_add_str(j, "console_log", logp) < 0)
				return EXIT_FAIL;
			return out_record(stdout, j) < 0 ? EXIT_FAIL : EXIT_OK;
		}
		printf("%s: started (pid %ld); console log %s, attach with 'ptctl vm console %s'\n", o.name, (long)pid,
		       logp, o.name);
		return EXIT_OK;
	}
	/* The child failed before running: pass its message on and its status. */
	while ((n = read(err[0], buf, sizeof(buf))) > 0)
		if (write(STDERR_FILENO, buf, (size_t)n) < 0)
			break;
	close(err[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : EXIT_FAIL;
}

static const struct out_column list_columns[] = {
	{ "name", "NAME" }, { "state", "STATE" }, { "pid", "PID" }, { "cpus", "CPUS" },
	{ "memory", "MEMORY" }, { "kernel", "KERNEL" },
};

static int vm_info_json(const char *name, json_object **ret)
{
	char p[PATH_MAX];
	_cleanup_free_ char *info = NULL;
	_cleanup_json_ json_object *o = json_object_new_object();
	static const char *const keys[] = { "pid", "cpus", "memory", "kernel", "initrd", "cmdline", "console", "started" };
	int r, running = name_running(name);

	if (!o)
		return -ENOMEM;
	snprintf(p, sizeof(p), VM_DIR "/%s/info", name);
	r = root_read(p, &info);
	if (r == -ENOENT && !running)
		return 0; /* a VM that ended cleanly leaves only its lock and log */
	if (r < 0 && r != -ENOENT)
		return r;
	if ((r = json_add_str(o, "name", name)) < 0 ||
	    (r = json_add_str(o, "state", !running ? "dead" : info ? "running" : "starting")) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		_cleanup_free_ char *v = NULL;
		uint64_t n;
		if (!info || state_get_value(info, keys[i], &v) < 0 || !*v)
			r = json_add_null(o, keys[i]);
		else if (!streq(keys[i], "kernel") && !streq(keys[i], "initrd") && !streq(keys[i], "cmdline") &&
			 !streq(keys[i], "console") && parse_u64(v, 10, &n) >= 0)
			r = json_add_int(o, keys[i], (int64_t)n);
		else
			r = json_add_str(o, keys[i], v);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(o);
	return 1;
}

static int vm_list_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_json_ json_object *rows = json_object_new_array();
	_cleanup_strv_free_ char **names = NULL;
	int r;

	if (argc > 1)
		return verb_usage_error(ctx, "vm list", "unexpected argument '%s'", argv[1]);
	if (!rows)
		return log_error("vm list: out of memory"), EXIT_FAIL;
	r = root_list(VM_DIR, &names);
	if (r == -ENOENT)
		r = 0;
	else if (r < 0)
		return log_error("VMs: cannot read %s: %s", VM_DIR, strerror(-r)), EXIT_FAIL;
	for (char **n = names; n && *n; n++) {
		json_object *o = NULL;
		r = vm_info_json(*n, &o);
		if (r < 0)
			return log_error("%s: cannot read its state: %s", *n, strerror(-r)), EXIT_FAIL;
		if (r > 0 && json_object_array_add(rows, o) < 0)
			return json_object_put(o), EXIT_FAIL;
	}
	return out_table(stdout, rows, list_columns, ARRAY_SIZE(list_columns)) < 0 ? EXIT_FAIL : EXIT_OK;
}

static int one_name(int argc, char **argv, const struct verb_ctx *ctx, const char *verb, const char **ret)
{
	if (argc != 2)
		return verb_usage_error(ctx, verb, argc < 2 ? "a VM name is required" : "unexpected argument '%s'",
					argv[argc < 2 ? 0 : 2]);
	if (!vm_name_valid(argv[1]))
		return verb_usage_error(ctx, verb, "'%s' is not a VM name", argv[1]);
	*ret = argv[1];
	return GO_ON;
}

static int vm_stop_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	const char *name;
	char sock[PATH_MAX];
	_cleanup_free_ char *reply = NULL;
	int r = one_name(argc, argv, ctx, "vm stop", &name);

	if (r != GO_ON)
		return r;
	if (!name_running(name))
		return log_error("%s: not running (see 'ptctl vm list')", name), EXIT_FAIL;
	vm_path(sock, sizeof(sock), name, "control");
	/* A VM that is still starting has its lock but not yet its socket: give it a moment. */
	for (int i = 0; i < 100; i++) {
		r = vm_control_request(sock, "stop", &reply);
		if ((r != -ENOENT && r != -ECONNREFUSED) || !name_running(name))
			break;
		usleep(50 * 1000);
	}
	if (r < 0 || !streq(reply, "ok"))
		return log_error("%s: the VM did not accept the stop request: %s", name, r < 0 ? strerror(-r) : reply),
		       EXIT_FAIL;
	/* Done when the VMM has let go of its lock. */
	for (int i = 0; i < 500 && name_running(name); i++)
		usleep(10 * 1000);
	if (name_running(name))
		return log_error("%s: still running 5 s after the stop request", name), EXIT_FAIL;
	return EXIT_OK;
}

static int vm_console_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	const char *name;
	char sock[PATH_MAX];
	int r = one_name(argc, argv, ctx, "vm console", &name);

	if (r != GO_ON)
		return r;
	if (!name_running(name))
		return log_error("%s: not running (see 'ptctl vm list')", name), EXIT_FAIL;
	vm_path(sock, sizeof(sock), name, "control");
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "ptctl: attached to %s's console; Ctrl-] detaches\r\n", name);
	r = vm_control_console(sock, STDIN_FILENO, STDOUT_FILENO);
	if (r < 0)
		return log_error("%s: console: %s", name, r == -EBUSY ? "too many consoles attached" : strerror(-r)),
		       EXIT_FAIL;
	return EXIT_OK;
}

/* ---- vm show ---- */

static const struct out_column bar_columns[] = {
	{ "device", "DEVICE" }, { "guest_address", "GUEST" }, { "index", "BAR" }, { "type", "TYPE" },
	{ "address", "ADDRESS" }, { "size", "SIZE" }, { "decoding", "DECODING" }, { "kvm_slots", "KVM-SLOTS" },
};
static const struct out_column irq_columns[] = {
	{ "device", "DEVICE" }, { "type", "TYPE" }, { "index", "INDEX" }, { "guest_vector", "VECTOR" },
	{ "dest_apic_id", "DEST-APIC" }, { "gsi", "GSI" }, { "masked", "MASKED" }, { "pending", "PENDING" },
	{ "host_irq", "HOST-IRQ" }, { "host_count", "COUNT" }, { "host_affinity", "AFFINITY" },
};
static const struct out_column mem_columns[] = {
	{ "gpa_start", "GPA-START" }, { "gpa_end", "GPA-END" }, { "hva", "HOST-VIRTUAL" }, { "size", "SIZE" },
	{ "page_size", "PAGE" }, { "iommu_mapped", "IOMMU" }, { "resident", "RESIDENT" },
	{ "host_physical_runs", "PHYS-RUNS" }, { "first_hpa", "FIRST-HPA" },
};

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* Copies o[key] into row[as]; absent keys become null. */
static int copy_key(json_object *row, const char *as, json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return json_add(row, as, v ? json_object_get(v) : NULL);
}

static int push_row(json_object *rows, json_object **ret)
{
	json_object *r = json_object_new_object();
	if (!r || json_object_array_add(rows, r) < 0) {
		json_object_put(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

static int show_tables(json_object *o)
{
	_cleanup_json_ json_object *bars = json_object_new_array(), *irqs = json_object_new_array(),
				   *mem = json_object_new_array();
	json_object *devs = get(o, "devices"), *m = get(o, "memory_map"), *row;
	char size[32];
	int r = 0;

	if (!bars || !irqs || !mem)
		return -ENOMEM;
	format_size(size, sizeof(size), (uint64_t)json_object_get_int64(get(o, "memory")));
	printf("%s: pid %" PRId64 ", %" PRId64 " vCPU(s), %s\n\nDEVICES\n", json_object_get_string(get(o, "name")),
	       json_object_get_int64(get(o, "pid")), json_object_get_int64(get(o, "cpus")), size);
	for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i), *b = get(d, "bars"), *q = get(d, "interrupts");
		const char *addr = json_object_get_string(get(d, "address"));
		printf("  %s  %s%s%s%s%s\n", json_object_get_string(get(d, "guest_address")),
		       json_object_get_string(get(d, "model")), addr ? " " : "", addr ? addr : "",
		       get(d, "interrupt_mode") ? ", interrupts " : "",
		       get(d, "interrupt_mode") ? json_object_get_string(get(d, "interrupt_mode")) : "");
		for (size_t k = 0; b && k < json_object_array_length(b) && r >= 0; k++) {
			json_object *x = json_object_array_get_idx(b, k);
			if ((r = push_row(bars, &row)) < 0 || (r = json_add_str(row, "device", addr)) < 0 ||
			    (r = copy_key(row, "guest_address", d, "guest_address")) < 0 ||
			    (r = copy_key(row, "index", x, "index")) < 0 || (r = copy_key(row, "type", x, "type")) < 0 ||
			    (r = copy_key(row, "address", x, "guest_address")) < 0 || (r = copy_key(row, "size", x, "size")) < 0 ||
			    (r = copy_key(row, "decoding", x, "decoding")) < 0)
				break;
			r = copy_key(row, "kvm_slots", x, "kvm_slots");
		}
		for (size_t k = 0; q && k < json_object_array_length(q) && r >= 0; k++) {
			json_object *x = json_object_array_get_idx(q, k);
			static const char *const keys[] = { "type", "index", "guest_vector", "dest_apic_id", "gsi", "masked",
							    "pending", "host_irq", "host_count", "host_affinity" };
			if ((r = push_row(irqs, &row)) < 0 || (r = json_add_str(row, "device", addr)) < 0)
				break;
			for (size_t j = 0; j < ARRAY_SIZE(keys) && r >= 0; j++)
				r = copy_key(row, keys[j], x, keys[j]);
		}
		if (r < 0)
			return r;
	}
	for (size_t i = 0; m && i < json_object_array_length(m) && r >= 0; i++) {
		json_object *x = json_object_array_get_idx(m, i), *runs = get(x, "host_physical");
		static const char *const keys[] = { "gpa_start", "gpa_end", "hva", "size", "page_size", "iommu_mapped",
						    "resident", "host_physical_runs" };
		if ((r = push_row(mem, &row)) < 0)
			break;
		for (size_t j = 0; j < ARRAY_SIZE(keys) && r >= 0; j++)
			r = copy_key(row, keys[j], x, keys[j]);
		if (r >= 0)
			r = runs && json_object_array_length(runs)
				    ? copy_key(row, "first_hpa", json_object_array_get_idx(runs, 0), "hpa")
				    : json_add_null(row, "first_hpa");
	}
	if (r < 0)
		return r;
	if (json_object_array_length(bars) && (printf("\nBARS\n"), r = out_table(stdout, bars, bar_columns,
										  ARRAY_SIZE(bar_columns))) < 0)
		return r;
	if (json_object_array_length(irqs) && (printf("\nINTERRUPTS\n"), r = out_table(stdout, irqs, irq_columns,
										      ARRAY_SIZE(irq_columns))) < 0)
		return r;
	printf("\nMEMORY\n");
	if (get(o, "ram")) {
		json_object *ram = get(o, "ram");
		char page[32], huge[32] = "";
		format_size(page, sizeof(page), (uint64_t)json_object_get_int64(get(ram, "page_size")));
		if (get(ram, "huge_bytes"))
			format_size(huge, sizeof(huge), (uint64_t)json_object_get_int64(get(ram, "huge_bytes")));
		printf("  backing %s, %s pages%s (%s)%s%s%s\n", json_object_get_string(get(ram, "backing")), page,
		       json_object_get_boolean(get(ram, "transparent")) ? " where the kernel has them" : "",
		       json_object_get_string(get(ram, "why")), *huge ? "; " : "", huge, *huge ? " in huge pages now" : "");
	}
	return out_table(stdout, mem, mem_columns, ARRAY_SIZE(mem_columns));
}

static int vm_show_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	const char *name;
	char sock[PATH_MAX];
	_cleanup_free_ char *reply = NULL;
	_cleanup_json_ json_object *o = NULL;
	int r = one_name(argc, argv, ctx, "vm show", &name);

	if (r != GO_ON)
		return r;
	if (!name_running(name))
		return log_error("%s: not running (see 'ptctl vm list')", name), EXIT_FAIL;
	vm_path(sock, sizeof(sock), name, "control");
	r = vm_control_request(sock, "show", &reply);
	if (r < 0)
		return log_error("%s: no answer on its control socket: %s", name, strerror(-r)), EXIT_FAIL;
	if (startswith(reply, "error"))
		return log_error("%s: %s", name, reply), EXIT_FAIL;
	o = json_tokener_parse(reply);
	if (!o || !json_object_is_type(o, json_type_object))
		return log_error("%s: the VM's answer is not JSON", name), EXIT_FAIL;
	if (out_is_json())
		r = out_json(stdout, o);
	else
		r = show_tables(o);
	return r < 0 ? (log_error("%s: %s", name, strerror(-r)), EXIT_FAIL) : EXIT_OK;
}

#define RUN_OPTIONS_HELP                                                                                       \
	"OPTIONS\n"                                                                                            \
	"    --kernel FILE     bzImage (64-bit entry, boot protocol 2.12+) or uncompressed vmlinux (ELF)\n"  \
	"    --initrd FILE     initial ramdisk, placed at the top of RAM below the kernel's initrd_addr_max\n" \
	"    --cmdline TEXT    kernel command line (default: console=ttyS0)\n"                                \
	"    --memory SIZE     guest RAM, e.g. 512M (default) or 4G; at least 16M, whole 2M units\n"           \
	"    --cpus N          vCPUs, 1-64 (default 1)\n"                                                       \
	"    --hugepages 2m|1g back guest RAM with huge pages (free ones must be reserved on the host)\n"      \
	"    --prefault        fault all guest RAM in before boot, one thread per usable CPU (slower start,\n" \
	"                      no faults later; done anyway when a device is assigned)\n"                      \
	"    --backing B       what backs guest RAM: auto (default: reserved hugetlb pages when enough are\n"  \
	"                      free, else anonymous memory with transparent huge pages, else a memfd with\n"  \
	"                      shmem THP, else 4K pages), anon, memfd, hugetlb-2m, hugetlb-1g. `-v` and\n"     \
	"                      the VM's info say what it got and why\n"                                \
	"    --assign ADDRESS  give the PCI device at ADDRESS to the guest (pass-through; repeatable, up to 8).\n" \
	"                      It is prepared exactly as 'ptctl bind' does (IOMMU group viable, not in use by\n" \
	"                      the host, original driver recorded), recorded in /run/ptctl/assigned/ADDRESS\n" \
	"                      (VM name, pid), reset before the guest sees it, and when the VM ends, however\n" \
	"                      it ends, reset and returned to the driver it had. While the VM runs, bind,\n" \
	"                      release and sriov destroy refuse the device (and its PF), naming the VM. A VMM\n" \
	"                      killed with SIGKILL leaves it on vfio-pci: 'ptctl release ADDRESS' returns it.\n" \
	"    --keep-bound      leave --assign devices on vfio-pci when the VM ends\n"                          \
	"    --nic MODEL[,tap=NAME][,mac=MAC]\n"                                                             \
	"                      a network card for the guest (repeatable, up to 8), on a tap interface of the\n" \
	"                      host: NAME if given (attached to if it exists, else created), else ptctlN;\n"   \
	"                      a tap ptctl created goes away with the VM. MODEL: e1000 (an emulated Intel\n"   \
	"                      82540EM: every register access traps, INTx; the guest's e1000 driver), virtio\n" \
	"                      (virtio-net, the VMM's data path) or vhost (virtio-net, the kernel's vhost-net).\n" \
	"                      MAC: six hex pairs, unicast; default 02:xx:xx:xx:xx:N from the VM name and the\n" \
	"                      NIC's position N. Guest addresses are the user's; nothing is bridged.\n"          \
	"    --from-config     take every setting from the [VM] section with Name=NAME in the configuration\n"  \
	"                      files (ptctl.conf(5)): Kernel=, Initrd=, CommandLine=, Memory=, CPUs=,\n"        \
	"                      HugePages=, NIC=, and Assign= (PF:INDEX resolved to the VF's address now); the\n"     \
	"                      devices stay on vfio-pci when the VM ends (the configuration binds them).\n"   \
	"                      No other VM option may be given. What ptctl-vm@NAME.service runs.\n"          \
	"    --config DIR      with --from-config: read DIR instead of the standard directories\n\n"

#define DRY_RUN_HELP                                                                                           \
	"DRY RUN\n"                                                                                           \
	"    --dry-run builds the VM for real (KVM, guest RAM, the kernel and initrd loaded, ACPI tables,\n"  \
	"    vCPUs) and frees it before it runs; every --assign device gets the plan of 'ptctl bind\n"         \
	"    --dry-run', after the same checks (IOMMU group viable, not in use, not assigned to a running\n"  \
	"    VM); NICs are listed and /dev/net/tun (and /dev/vhost-net for vhost) opened, their taps not\n"   \
	"    made. Nothing is written under /run/ptctl. With --json the plan is {name, kernel, initrd,\n"     \
	"    cmdline, memory, cpus, backing, page_size, devices: [{device, action, file, value}],\n"          \
	"    devices_at_end, nics: [{model, tap}], result}. 'vm run' takes --json only with --dry-run: the\n" \
	"    guest's console is on stdout.\n\n"

#define MACHINE_HELP                                                                                           \
	"THE MACHINE\n"                                                                                        \
	"    No firmware: the kernel is entered in 64-bit mode. RAM below 3G and above 4G; the hole holds\n"   \
	"    the 32-bit PCI window, ECAM (0xe0000000), IOAPIC and LAPIC. Devices: 16550A serial console\n"     \
	"    (ttyS0, IRQ 4), PCI host bridge, ACPI tables (power-off through \\_S5, reset register), i8042\n" \
	"    reset (reboot=k), CMOS clock. A kernel panic is recognised by the console line \"Kernel panic -\n" \
	"    not syncing\" (console=ttyS0 must be set), so panic=-1 reboots count as panics.\n\n"

PTCTL_VERB(vm_run, .name = "vm run", .synopsis = "NAME --kernel FILE [--initrd FILE] [--cmdline TEXT] [--memory SIZE] [--cpus N] [--hugepages 2m|1g] [--backing B] [--prefault] [--assign ADDRESS]... [--keep-bound] [--nic MODEL[,tap=NAME][,mac=MAC]]... | NAME --from-config [--config DIR]",
	   .summary = "boot a VM in the foreground, console on stdio", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = vm_run_run,
	   .help = "DESCRIPTION\n"
		   "    Boots a Linux kernel in a KVM virtual machine of ptctl's own and stays in the foreground\n"
		   "    with the serial console on stdin/stdout until the guest powers off, reboots or panics.\n"
		   "    Ctrl-C (SIGINT) or 'ptctl vm stop NAME' stops it. While it runs it is listed by\n"
		   "    'ptctl vm list' and has a control socket in /run/ptctl/vm/NAME/.\n\n" RUN_OPTIONS_HELP DRY_RUN_HELP
		   MACHINE_HELP
		   VM_EXIT_STATUS_HELP "\nEXAMPLES\n"
		   "    ptctl vm run vm1 --kernel /boot/vmlinuz --initrd initrd.img --cmdline 'console=ttyS0 quiet' --cpus 2\n"
		   "    ptctl vm run vm1 --kernel /boot/vmlinuz --initrd initrd.img --memory 1G --assign 0000:01:10.0\n"
		   "    ptctl --dry-run vm run vm1 --kernel /boot/vmlinuz --memory 1G --assign 0000:01:10.0\n");

PTCTL_VERB(vm_start, .name = "vm start", .synopsis = "NAME --kernel FILE [--initrd FILE] [--cmdline TEXT] [--memory SIZE] [--cpus N] [--hugepages 2m|1g] [--backing B] [--prefault] [--assign ADDRESS]... [--keep-bound] [--nic MODEL[,tap=NAME][,mac=MAC]]... | NAME --from-config [--config DIR]",
	   .summary = "boot a VM in the background", .flags = VERB_JSON | VERB_DRY_RUN, .run = vm_start_run,
	   .help = "DESCRIPTION\n"
		   "    Like 'ptctl vm run', but the VM runs in a background process: the console goes to\n"
		   "    /run/ptctl/vm/NAME/console.log and 'ptctl vm console NAME' attaches to it. Returns once the\n"
		   "    VM is running, or with the reason it could not start.\n\n" RUN_OPTIONS_HELP DRY_RUN_HELP
		   MACHINE_HELP);

PTCTL_VERB(vm_list, .name = "vm list", .synopsis = "", .summary = "list ptctl's running VMs", .flags = VERB_JSON,
	   .run = vm_list_run,
	   .help = "DESCRIPTION\n"
		   "    Lists the VMs ptctl runs on this host. STATE is starting, running, or dead for a VM whose\n"
		   "    process ended without cleaning up.\n\n"
		   "JSON\n"
		   "    An array of objects: name, state, pid, cpus, memory (bytes), kernel, initrd, cmdline,\n"
		   "    console (log file of a background VM, else null), started (Unix time).\n");

PTCTL_VERB(vm_stop, .name = "vm stop", .synopsis = "NAME", .summary = "stop a running VM", .run = vm_stop_run,
	   .help = "DESCRIPTION\n"
		   "    Stops the VM at once (like pulling the plug: the guest is not asked to shut down) and waits\n"
		   "    until its process has let go of it. 'ptctl vm run' then exits with status 5.\n");

PTCTL_VERB(vm_console, .name = "vm console", .synopsis = "NAME", .summary = "attach to a VM's serial console",
	   .run = vm_console_run,
	   .help = "DESCRIPTION\n"
		   "    Connects the terminal to the VM's serial console. Ctrl-] detaches; the VM keeps running.\n"
		   "    Output from before attaching is in /run/ptctl/vm/NAME/console.log (background VMs).\n");

PTCTL_VERB(vm_show, .name = "vm show", .synopsis = "NAME", .summary = "show a running VM's devices, interrupts and memory map",
	   .flags = VERB_JSON, .run = vm_show_run,
	   .help = "DESCRIPTION\n"
		   "    Asks the running VM (over its control socket) what it has: every device on its PCI bus,\n"
		   "    and for each assigned device its guest slot, its BARs where the guest put them (and how\n"
		   "    many KVM memory slots map them: 0 means every access traps to the VMM), and every\n"
		   "    interrupt: the guest vector and destination APIC ID decoded from the MSI address/data the\n"
		   "    guest programmed, the KVM GSI, masked/pending, and the host IRQ VFIO requested for it with\n"
		   "    its count and CPU affinity (/proc/interrupts, /proc/irq). Then the memory map: each RAM\n"
		   "    region's guest-physical range, host virtual address, page size, whether it is mapped into\n"
		   "    the IOMMU (IOVA = guest-physical), and its host-physical runs from /proc/PID/pagemap.\n\n"
		   "JSON\n"
		   "    {name, pid, cpus, devices: [{address (host, null for emulated devices),\n"
		   "    guest_address, slot, model, interrupt_mode (msix, msi, intx, none), bars: [{index, type,\n"
		   "    guest_address, size, decoding, kvm_slots}], interrupts: [{type, index, guest_vector,\n"
		   "    dest_apic_id, msi_address, msi_data, gsi, masked, pending, host_irq, host_count,\n"
		   "    host_affinity}]}], memory (bytes), memory_map: [{gpa_start, gpa_end, hva, size, page_size, iommu_mapped,\n"
		   "    resident, host_physical_runs, host_physical_hidden, host_physical: [{gpa, hpa, size}]\n"
		   "    (the first 32 runs)}]}. hpa reads 0 when the kernel hides PFNs (no CAP_SYS_ADMIN).\n");
