/* guest-kit.c: builds the benchmark guest's initramfs from the host's packages (a newc cpio written here,
 * libraries from ldd, modules from modules.dep) and holds its two scripts: /init and the measurement. */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "guest-kit.h"
#include "util/log.h"
#include "util/root.h"

/* The guest's /init: everything a guest needs before the shared measurement, then power-off. */
static const char init_sh[] =
	"#!/bin/sh\n"
	"# /init of the guest ptctl bench nic boots: NIC drivers in, measure, power off.\n"
	"export PATH=/bin\n"
	"mount -t proc proc /proc\n"
	"mount -t sysfs sysfs /sys\n"
	"mount -t devtmpfs devtmpfs /dev\n"
	"mount -t tmpfs tmpfs /tmp\n"
	"while read -r m; do\n"
	"\tinsmod \"$m\" 2>/dev/null || echo \"ptb: insmod ${m##*/} failed\"\n"
	"done </ptb/modules\n"
	"ip link set lo up\n"
	"sh /ptb/measure /ptb/params\n"
	"sync\n"
	"poweroff -f\n";

/* The measurement, the same in every guest and in the native path's network namespace. Result lines are
 * "PTB <nonce> WHAT ...": the nonce comes from the params file, which is deleted before anything else
 * runs, so nothing else on the console (kernel, iperf3) can print a line that passes for a result. */
const char guest_kit_measure_sh[] =
	"# ptctl bench nic: one path's measurement. Usage: sh measure PARAMS\n"
	". \"$1\" || exit 1\n"
	"rm -f \"$1\"\n"
	"m() { echo \"PTB $nonce $*\"; }\n"
	"fail() { m FAIL \"$*\"; exit 1; }\n"
	"t=${TMPDIR:-/tmp}\n"
	"i=0\n"
	"while [ -z \"$nic\" ] && [ $i -lt 100 ]; do\n"
	"\tfor d in /sys/class/net/*; do\n"
	"\t\t[ \"${d##*/}\" = lo ] || [ ! -e \"$d/device\" ] || { nic=${d##*/}; break; }\n"
	"\tdone\n"
	"\t[ -n \"$nic\" ] || sleep 0.1\n"
	"\ti=$((i + 1))\n"
	"done\n"
	"if [ -z \"$nic\" ]; then\n"
	"\tm PCI $(for d in /sys/bus/pci/devices/*; do echo \"${d##*/}=$(cat $d/vendor):$(cat $d/device)\"; done)\n"
	"\tfail \"no network interface: no driver bound a NIC (or the VMM gave the guest none)\"\n"
	"fi\n"
	"if [ -n \"$pci\" ]; then\n"
	"\tdev=/sys/bus/pci/devices/$pci\n"
	"else\n"
	"\t# virtio: the netdev's device is virtioN; its interrupts belong to the PCI function above it\n"
	"\tdev=$(readlink -f /sys/class/net/$nic/device)\n"
	"\t[ -e \"$dev/config\" ] || dev=${dev%/*}\n"
	"fi\n"
	"irqs=$(echo $(ls \"$dev/msi_irqs\" 2>/dev/null))\n"
	"[ -n \"$irqs\" ] || irqs=$(cat \"$dev/irq\" 2>/dev/null)\n"
	"drv=$(basename \"$(readlink /sys/class/net/$nic/device/driver)\")\n"
	"m UP nic=$nic driver=$drv pci=${dev##*/} irqs=$(echo $irqs | tr ' ' ,)\n"
	"ip addr add \"$addr\" dev \"$nic\" || fail \"$nic: cannot add $addr\"\n"
	"ip link set \"$nic\" up || fail \"$nic: cannot set it up\"\n"
	"i=0\n"
	"while [ \"$(cat /sys/class/net/$nic/carrier 2>/dev/null)\" != 1 ]; do\n"
	"\ti=$((i + 1))\n"
	"\t[ $i -le 300 ] || fail \"$nic: no carrier after 30 s\"\n"
	"\tsleep 0.1\n"
	"done\n"
	"i=0\n"
	"until ping -c 1 -W 1 \"$peer\" >/dev/null 2>&1; do\n"
	"\ti=$((i + 1))\n"
	"\t[ $i -le 20 ] || fail \"$peer does not answer ping through $nic\"\n"
	"done\n"
	"m LINK up\n"
	"irqsum() {\n"
	"\tawk -v l=\" $irqs \" '{ n = $1; sub(\":\", \"\", n); if (index(l, \" \" n \" \"))\n"
	"\t\tfor (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts\n"
	"}\n"
	"got() {\n"
	"\tawk '/\"sum_received\"/ { f = 1 } f && /\"bytes\"/ { gsub(/[^0-9.]/, \"\", $2); b = $2 }\n"
	"\t\tf && /\"seconds\"/ { gsub(/[^0-9.]/, \"\", $2); s = $2 } f && /}/ { print b + 0, s + 0; f = 0; e = 1 }\n"
	"\t\tEND { if (!e) print 0, 0 }' \"$1\"\n"
	"}\n"
	"io() {\n"
	"\tiperf3 -c \"$peer\" -p \"$port\" -t \"$duration\" -O 1 -J $2 >\"$t/ptb-$1.json\" 2>&1\n"
	"\tm IPERF $1 $? $(got \"$t/ptb-$1.json\")\n"
	"\terr=$(sed -n 's/^[[:space:]]*\"error\":[[:space:]]*\"\\(.*\\)\".*/\\1/p' \"$t/ptb-$1.json\" | head -n1)\n"
	"\t[ -z \"$err\" ] || m IPERFERR $1 $err\n"
	"}\n"
	"m IRQ $(irqsum)\n"
	"m MARK start\n"
	"io tx\n"
	"io rx -R\n"
	"m MARK end\n"
	"m IRQ $(irqsum)\n"
	"out=$(ping -c 10 -i 0.2 \"$peer\" 2>&1)\n"
	"rc=$?\n"
	"m PING $rc $(echo \"$out\" | sed -n 's#.*min/avg/max[^=]*= *\\([0-9.]*\\)/\\([0-9.]*\\)/\\([0-9.]*\\).*#\\1 \\2 \\3#p')\n"
	"m DONE\n";

struct guest_kit *guest_kit_free(struct guest_kit *k)
{
	if (!k)
		return NULL;
	free(k->kernel);
	free(k->release);
	strv_free(k->modules);
	strv_free(k->missing);
	strv_free(k->files);
	free(k);
	return NULL;
}

/* ---- small file helpers ---- */

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	/* A FIFO given as a file would block the open: the type is checked first (util/root). */
	_cleanup_close_ int fd = file_open_regular(path, O_RDONLY, NULL);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EISDIR;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

/* Runs argv (no shell) and returns what it wrote to stdout; its exit status in *ret_status. */
static int run_capture(char *const argv[], char **ret, size_t *ret_len, int *ret_status)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, cap = 0;
	int p[2], st = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return negative_errno();
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(p[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		if (n + 65536 + 1 > cap) {
			char *nb = realloc(buf, cap = (cap ? cap * 2 : 131072));
			if (!nb) {
				close(p[0]);
				waitpid(pid, NULL, 0);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t k = read(p[0], buf + n, cap - n - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!buf && !(buf = calloc(1, 1)))
		return -ENOMEM;
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}

/* ---- kernel release ---- */

static bool release_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '~';
}

static int take_release(const char *s, size_t max, char **ret)
{
	size_t n = 0;
	while (n < max && release_char(s[n]))
		n++;
	if (n == 0 || n >= 128)
		return -ENOEXEC;
	*ret = strndup(s, n);
	return *ret ? 0 : -ENOMEM;
}

int guest_kit_kernel_release(const char *kernel, char **ret)
{
	_cleanup_free_ char *img = NULL;
	size_t len;
	int r = read_file(kernel, &img, &len);

	if (r < 0)
		return r;
	/* bzImage: "HdrS" at 0x202, protocol >= 2.0, kernel_version at 0x20e points (minus 0x200) to the string */
	if (len > 0x210 && memcmp(img + 0x202, "HdrS", 4) == 0) {
		uint16_t off = (uint16_t)((uint8_t)img[0x20e] | (uint8_t)img[0x20f] << 8);
		if (off && (size_t)off + 0x200 < len)
			return take_release(img + off + 0x200, len - off - 0x200, ret);
	}
	/* an uncompressed vmlinux carries the banner "Linux version RELEASE (builder) ..." */
	if (len > 4 && memcmp(img, "\177ELF", 4) == 0) {
		static const char banner[] = "Linux version ";
		const char *p = img, *end = img + len;
		while ((p = memmem(p, (size_t)(end - p), banner, sizeof(banner) - 1))) {
			p += sizeof(banner) - 1;
			if (take_release(p, (size_t)(end - p), ret) == 0 && strchr(*ret, '.'))
				return 0;
			free(*ret);
			*ret = NULL;
		}
	}
	return -ENOEXEC;
}

/* ---- modules.dep ---- */

/* "kernel/drivers/net/virtio_net.ko.xz" -> does its module name equal name ('-' and '_' alike)? */
static bool module_is(const char *path, size_t len, const char *name)
{
	const char *base = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			base = path + i + 1;
	size_t blen = (size_t)(path + len - base), nlen = strlen(name);
	if (blen < nlen + 3 || memcmp(base + nlen, ".ko", 3) != 0)
		return false;
	for (size_t i = 0; i < nlen; i++) {
		char a = base[i] == '-' ? '_' : base[i], b = name[i] == '-' ? '_' : name[i];
		if (a != b)
			return false;
	}
	return true;
}

static bool in_list(char **v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

/* Appends dir/rel to *files unless it is there already. */
static int push_module(char ***files, size_t *n, const char *dir, const char *rel, size_t len)
{
	_cleanup_free_ char *p = NULL;
	if (asprintf(&p, "%s/%.*s", dir, (int)len, rel) < 0)
		return -ENOMEM;
	if (in_list(*files, p))
		return 0;
	return strv_push(files, n, TAKE_PTR(p));
}

static bool builtin(const char *listing, const char *name)
{
	const char *p = listing;
	while (p && *p) {
		size_t len = strcspn(p, "\n");
		if (module_is(p, len, name))
			return true;
		p += len + (p[len] == '\n');
	}
	return false;
}

int guest_kit_module_order(const char *dir, const char *const *names, char ***ret, char ***ret_missing)
{
	_cleanup_free_ char *dep = NULL, *bi = NULL, *path = NULL;
	_cleanup_strv_free_ char **files = NULL, **missing = NULL;
	size_t nf = 0, nm = 0, len;
	int r;

	if (asprintf(&path, "%s/modules.dep", dir) < 0)
		return -ENOMEM;
	r = read_file(path, &dep, &len);
	if (r < 0)
		return r;
	free(path);
	if (asprintf(&path, "%s/modules.builtin", dir) < 0)
		return -ENOMEM;
	if (read_file(path, &bi, &len) < 0)
		bi = NULL;
	for (const char *const *name = names; *name; name++) {
		const char *line = dep;
		bool found = false;
		while (*line) {
			size_t ll = strcspn(line, "\n"), kl = strcspn(line, ":\n");
			if (kl < ll && module_is(line, kl, *name)) {
				/* "mod: depA depB ...": modprobe loads the dependencies last to first, then mod */
				const char *deps[64];
				size_t nd = 0;
				const char *q = line + kl + 1, *end = line + ll;
				while (q < end && nd < ARRAY_SIZE(deps)) {
					while (q < end && isspace((unsigned char)*q))
						q++;
					if (q < end)
						deps[nd++] = q;
					while (q < end && !isspace((unsigned char)*q))
						q++;
				}
				for (size_t i = nd; i-- > 0;)
					if ((r = push_module(&files, &nf, dir, deps[i], strcspn(deps[i], " \t\n"))) < 0)
						return r;
				if ((r = push_module(&files, &nf, dir, line, kl)) < 0)
					return r;
				found = true;
				break;
			}
			line += ll + (line[ll] == '\n');
		}
		if (!found && !builtin(bi, *name) && (r = strv_pushf(&missing, &nm, "%s", *name)) < 0)
			return r;
	}
	if (!files && !(files = calloc(1, sizeof(char *))))
		return -ENOMEM;
	if (!missing && !(missing = calloc(1, sizeof(char *))))
		return -ENOMEM;
	*ret = TAKE_PTR(files);
	*ret_missing = TAKE_PTR(missing);
	return 0;
}

/* ---- newc cpio ---- */

struct cpio {
	FILE *f;
	unsigned ino;
	char **dirs; /* directories written so far */
	size_t ndirs;
	uint64_t size;
	int error;
};

static void cpio_pad(struct cpio *c)
{
	static const char zero[4];
	size_t pad = (4 - c->size % 4) % 4;
	if (pad && fwrite(zero, 1, pad, c->f) != pad)
		c->error = -EIO;
	c->size += pad;
}

static void cpio_entry(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len)
{
	char hdr[111];
	size_t nl = strlen(name) + 1;

	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", c->ino++, mode,
		 0u, 0u, (mode & 0170000) == 0040000 ? 2u : 1u, 0u, (unsigned)len, 0u, 0u, 0u, 0u, (unsigned)nl, 0u);
	if (fwrite(hdr, 1, 110, c->f) != 110 || fwrite(name, 1, nl, c->f) != nl)
		c->error = -EIO;
	c->size += 110 + nl;
	cpio_pad(c);
	if (len && fwrite(data, 1, len, c->f) != len)
		c->error = -EIO;
	c->size += len;
	cpio_pad(c);
}

/* Every parent directory of path (no leading '/': newc names are relative), each once. */
static void cpio_parents(struct cpio *c, const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p) {
		c->error = -ENOMEM;
		return;
	}
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (*p && !in_list(c->dirs, p)) {
			cpio_entry(c, p, 0040755, NULL, 0);
			if (strv_pushf(&c->dirs, &c->ndirs, "%s", p) < 0)
				c->error = -ENOMEM;
		}
		*s = '/';
	}
}

static void cpio_add(struct cpio *c, const char *path, unsigned mode, const void *data, size_t len)
{
	while (*path == '/')
		path++;
	cpio_parents(c, path);
	if ((mode & 0170000) == 0040000) {
		if (in_list(c->dirs, path))
			return;
		if (strv_pushf(&c->dirs, &c->ndirs, "%s", path) < 0)
			c->error = -ENOMEM;
	}
	cpio_entry(c, path, mode, data, len);
}

static int cpio_finish(struct cpio *c)
{
	cpio_entry(c, "TRAILER!!!", 0, NULL, 0);
	strv_free(c->dirs);
	c->dirs = NULL;
	return c->error;
}

/* ---- the kit ---- */

/* Copies a host file to the same path inside (following links). */
static int put_host_file(struct cpio *c, const char *src, const char *dst)
{
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t len;
	int r;

	if (stat(src, &st) < 0)
		return negative_errno();
	r = read_file(src, &data, &len);
	if (r < 0)
		return r;
	cpio_add(c, dst, 0100000 | (st.st_mode & 0777), data, len);
	return c->error;
}

/* The shared libraries a dynamic executable loads, as ldd prints them (absolute paths). */
static int libs_of(const char *exe, char ***ret)
{
	char *argv[] = { "ldd", (char *)exe, NULL };
	_cleanup_free_ char *out = NULL;
	_cleanup_strv_free_ char **libs = NULL;
	size_t len, n = 0;
	int st, r = run_capture(argv, &out, &len, &st);

	if (r < 0)
		return r;
	if (st == 127)
		return -ENOPKG; /* no ldd (libc-bin) */
	/* "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)" and "\t/lib64/ld-linux-x86-64.so.2 (0x...)";
	 * a static binary prints "not a dynamic executable" and exits 1: no libraries. */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *arrow = strstr(line, "=> "), *p = arrow ? arrow + 3 : line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '/')
			continue;
		size_t l = strcspn(p, " \t(");
		if ((r = strv_pushf(&libs, &n, "%.*s", (int)l, p)) < 0)
			return r;
	}
	if (!libs && !(libs = calloc(1, sizeof(char *))))
		return -ENOMEM;
	*ret = TAKE_PTR(libs);
	return 0;
}

static int put_exe(struct cpio *c, struct guest_kit *k, const char *src, const char *dst, char **why)
{
	_cleanup_strv_free_ char **libs = NULL;
	size_t n = strv_length(k->files);
	int r;

	if (access(src, X_OK) < 0)
		return asprintf(why, "%s: not found or not executable", src) < 0 ? -ENOMEM : -ENOENT;
	if ((r = put_host_file(c, src, dst)) < 0 || (r = strv_pushf(&k->files, &n, "%s", src)) < 0)
		return r;
	if ((r = libs_of(src, &libs)) < 0)
		return asprintf(why, "ldd %s: %s", src, r == -ENOPKG ? "ldd not found (libc-bin)" : strerror(-r)) < 0 ? -ENOMEM : r;
	for (char **l = libs; *l; l++) {
		if (in_list(k->files, *l))
			continue;
		if ((r = put_host_file(c, *l, *l)) < 0)
			return asprintf(why, "%s (for %s): %s", *l, src, strerror(-r)) < 0 ? -ENOMEM : r;
		if ((r = strv_pushf(&k->files, &n, "%s", *l)) < 0)
			return r;
	}
	return 0;
}

/* A module, decompressed when the kernel ships it compressed (busybox insmod reads plain .ko only). */
static int put_module(struct cpio *c, const char *src, char **ret_dst)
{
	_cleanup_free_ char *data = NULL, *dst = strdup(src);
	const char *tool = NULL;
	size_t len;
	int r, st = 0;

	if (!dst)
		return -ENOMEM;
	if (strlen(dst) > 3 && streq(dst + strlen(dst) - 3, ".xz"))
		tool = "xz";
	else if (strlen(dst) > 4 && streq(dst + strlen(dst) - 4, ".zst"))
		tool = "zstd";
	else if (strlen(dst) > 3 && streq(dst + strlen(dst) - 3, ".gz"))
		tool = "gzip";
	if (tool) {
		char *argv[] = { (char *)tool, "-dc", (char *)src, NULL };
		r = run_capture(argv, &data, &len, &st);
		if (r < 0)
			return r;
		if (st != 0 || len == 0)
			return -EIO;
		*strrchr(dst, '.') = 0;
	} else if ((r = read_file(src, &data, &len)) < 0)
		return r;
	cpio_add(c, dst, 0100644, data, len);
	*ret_dst = TAKE_PTR(dst);
	return c->error;
}

static int host_kernel(char **ret)
{
	struct utsname u;
	if (uname(&u) < 0)
		return negative_errno();
	return asprintf(ret, "/boot/vmlinuz-%s", u.release) < 0 ? -ENOMEM : 0;
}

static int why_f(char **why, int r, const char *fmt, ...) _printf_(3, 4);
static int why_f(char **why, int r, const char *fmt, ...)
{
	va_list ap;
	if (why && !*why) {
		va_start(ap, fmt);
		if (vasprintf(why, fmt, ap) < 0)
			*why = NULL;
		va_end(ap);
	}
	return r;
}

static int build(struct guest_kit *k, const struct guest_kit_config *cfg, FILE *f, char **why)
{
	static const char *const mods[] = GUEST_KIT_MODULES, *const applets[] = GUEST_KIT_APPLETS;
	const char *busybox = cfg->busybox ? cfg->busybox : "/usr/bin/busybox";
	const char *iperf3 = cfg->iperf3 ? cfg->iperf3 : "/usr/bin/iperf3";
	_cleanup_free_ char *moddir = NULL, *list = NULL;
	struct cpio c = { .f = f, .ino = 1 };
	size_t listlen = 0, n = 0;
	int r;

	if (asprintf(&moddir, "%s/%s", cfg->modules_dir ? cfg->modules_dir : "/lib/modules", k->release) < 0)
		return -ENOMEM;
	r = guest_kit_module_order(moddir, mods, &k->modules, &k->missing);
	if (r < 0)
		return why_f(why, r, "%s/modules.dep: %s (the modules of kernel %s are not installed?)", moddir,
			     strerror(-r), k->release);
	for (const char *d = "dev\0proc\0sys\0tmp\0bin\0ptb\0"; *d; d += strlen(d) + 1)
		cpio_add(&c, d, 0040755, NULL, 0);
	cpio_add(&c, "init", 0100755, init_sh, sizeof(init_sh) - 1);
	cpio_add(&c, "ptb/measure", 0100644, guest_kit_measure_sh, sizeof(guest_kit_measure_sh) - 1);
	if ((r = put_exe(&c, k, busybox, "/bin/busybox", why)) < 0)
		return why_f(why, r, "busybox %s: %s (install busybox-static)", busybox, strerror(-r));
	for (const char *const *a = applets; *a; a++) {
		_cleanup_free_ char *p = NULL;
		if (asprintf(&p, "bin/%s", *a) < 0)
			return -ENOMEM;
		cpio_add(&c, p, 0120777, "busybox", 7);
	}
	if ((r = put_exe(&c, k, iperf3, "/bin/iperf3", why)) < 0)
		return why_f(why, r, "iperf3 %s: %s (install iperf3)", iperf3, strerror(-r));
	/* modules at their own paths, and /ptb/modules naming them in load order */
	for (char **m = k->modules; *m; m++) {
		_cleanup_free_ char *dst = NULL;
		if ((r = put_module(&c, *m, &dst)) < 0)
			return why_f(why, r, "module %s: %s", *m, strerror(-r));
		char *nl = realloc(list, listlen + strlen(dst) + 2);
		if (!nl)
			return -ENOMEM;
		list = nl;
		listlen += (size_t)sprintf(list + listlen, "%s\n", dst);
		n++;
	}
	cpio_add(&c, "ptb/modules", 0100644, list ? list : "", listlen);
	r = cpio_finish(&c);
	k->size = c.size;
	return r < 0 ? why_f(why, r, "writing the initramfs: %s", strerror(-r)) : 0;
}

int guest_kit_build(const struct guest_kit_config *cfg, const char *path, struct guest_kit **ret, char **ret_why)
{
	_cleanup_guest_kit_ struct guest_kit *k = calloc(1, sizeof(*k));
	_cleanup_free_ char *why = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	int r;

	if (!k)
		return -ENOMEM;
	if (cfg->kernel)
		k->kernel = strdup(cfg->kernel);
	else if (host_kernel(&k->kernel) < 0)
		k->kernel = NULL;
	if (!k->kernel)
		return -ENOMEM;
	r = guest_kit_kernel_release(k->kernel, &k->release);
	if (r < 0) {
		why_f(&why, r, r == -ENOEXEC ? "kernel %s: neither a bzImage nor a vmlinux with a version banner"
					     : "kernel %s: %s%s", k->kernel, strerror(-r),
		      r == -ENOENT && !cfg->kernel ? " (the host's own kernel image; give one with --kernel)" : "");
		goto fail;
	}
	f = fopen(path, "we");
	if (!f) {
		r = negative_errno();
		why_f(&why, r, "%s: %s", path, strerror(-r));
		goto fail;
	}
	r = build(k, cfg, f, &why);
	if (r >= 0 && fflush(f) != 0)
		r = why_f(&why, negative_errno(), "%s: %m", path);
	if (r < 0) {
		unlink(path);
		goto fail;
	}
	*ret = TAKE_PTR(k);
	return 0;
fail:
	if (ret_why)
		*ret_why = TAKE_PTR(why);
	return r;
}

/* ---- per-run parameters ---- */

bool guest_addr_ok(const char *a, bool with_prefix)
{
	unsigned o[4], pfx = 32;
	char tail[8] = "";
	int n;

	if (!a)
		return false;
	n = with_prefix ? sscanf(a, "%3u.%3u.%3u.%3u/%2u%7s", &o[0], &o[1], &o[2], &o[3], &pfx, tail)
			: sscanf(a, "%3u.%3u.%3u.%3u%7s", &o[0], &o[1], &o[2], &o[3], tail);
	if (n != (with_prefix ? 5 : 4))
		return false;
	for (int i = 0; i < 4; i++)
		if (o[i] > 255)
			return false;
	/* the benchmarking range only (RFC 2544): 198.18.0.0/15, and a prefix no wider than it */
	return o[0] == 198 && (o[1] == 18 || o[1] == 19) && (!with_prefix || (pfx >= 15 && pfx <= 30));
}

static bool hex_ok(const char *s, size_t min, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool word_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("._:-", s[i])))
			return false;
	return true;
}

int guest_params_format(const struct guest_params *p, char **ret)
{
	if (!hex_ok(p->nonce, 16, 64) || !guest_addr_ok(p->addr, true) || !guest_addr_ok(p->peer, false) ||
	    p->duration < 1 || p->duration > 3600 || p->port < 1 || p->port > 65535 ||
	    (p->nic && !word_ok(p->nic, 15)) || (p->pci && !word_ok(p->pci, 16)))
		return -EINVAL;
	return asprintf(ret, "nonce=%s\naddr=%s\npeer=%s\nduration=%u\nport=%u\nnic=%s\npci=%s\n", p->nonce, p->addr,
			p->peer, p->duration, p->port, p->nic ? p->nic : "", p->pci ? p->pci : "") < 0
		       ? -ENOMEM
		       : 0;
}

int guest_params_archive(const struct guest_params *p, const char *path)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	struct cpio c = { .ino = 100000 };
	int r = guest_params_format(p, &text);

	if (r < 0)
		return r;
	f = fopen(path, "we");
	if (!f)
		return negative_errno();
	c.f = f;
	/* ptb/ exists in the kit already; the kernel merges archives, so only the file goes in */
	cpio_entry(&c, "ptb/params", 0100600, text, strlen(text));
	r = cpio_finish(&c);
	if (r >= 0 && fflush(f) != 0)
		r = negative_errno();
	return r;
}
