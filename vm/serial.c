/* serial.c: the console UART, a 16550A at 0x3f8 on IRQ 4 driven through the in-kernel irqchip.
 * Transmit is instant (the FIFO is always empty), so only receive data and THR-empty interrupt. */
#include <sys/ioctl.h>

#include "internal.h"
#include "util/log.h"

enum {
	UART_RX = 0, UART_TX = 0, UART_DLL = 0,
	UART_IER = 1, UART_DLM = 1,
	UART_IIR = 2, UART_FCR = 2,
	UART_LCR = 3, UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

void vm_serial_init(struct vm_serial *s, struct vm *vm)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->vm = vm;
	s->dll = 12; /* 9600 baud until the guest says otherwise */
	s->lcr = 0x03;
}

static uint8_t serial_iir(const struct vm_serial *s)
{
	uint8_t fifo = s->fcr & FCR_ENABLE ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return fifo | IIR_THRI;
	return fifo | IIR_NONE;
}

/* The PC gates the UART's interrupt output with OUT2. */
static void serial_update_irq(struct vm_serial *s)
{
	int level = !(serial_iir(s) & IIR_NONE) && (s->mcr & MCR_OUT2);
	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, VM_IRQ_SERIAL, level);
	}
}

static void rx_push(struct vm_serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_FIFO)
		return; /* overrun: the byte is lost, as on hardware */
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO] = c;
	s->rx_count++;
}

static uint8_t serial_read(struct vm_serial *s, unsigned off)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RX:
		if (dlab)
			return s->dll;
		if (!s->rx_count)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SERIAL_FIFO;
		s->rx_count--;
		return v;
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thr_ipending = false; /* reading IIR acknowledges THR empty */
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return (s->rx_count ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
	case UART_MSR:
		if (s->mcr & MCR_LOOP)
			return (uint8_t)((s->mcr & MCR_RTS) << 3 | (s->mcr & MCR_DTR) << 5 | (s->mcr & MCR_OUT1) << 4 |
					 (s->mcr & MCR_OUT2) << 4);
		return 0xb0; /* DCD, DSR, CTS: a terminal is always attached */
	default:
		return s->scr;
	}
}

static void serial_write(struct vm_serial *s, unsigned off, uint8_t v)
{
	bool dlab = s->lcr & LCR_DLAB;

	switch (off) {
	case UART_TX:
		if (dlab) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP)
			rx_push(s, v);
		else
			vm_console_putc(s->vm, v);
		s->thr_ipending = true;
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
			break;
		}
		/* Enabling the THR-empty interrupt while THR is empty raises it at once. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thr_ipending = true;
		s->ier = v & 0x0f;
		break;
	case UART_FCR:
		s->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			s->rx_count = 0;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
}

void vm_serial_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm_serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	/* Byte registers; a wider access touches consecutive registers, as on an ISA bus. */
	for (unsigned i = 0; i < len; i++) {
		if (off + i > UART_SCR) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			serial_write(s, (unsigned)off + i, data[i]);
		else
			data[i] = serial_read(s, (unsigned)off + i);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t vm_serial_input(struct vm_serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_count < SERIAL_FIFO)
		rx_push(s, buf[n++]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void vm_serial_destroy(struct vm_serial *s)
{
	if (s->vm)
		pthread_mutex_destroy(&s->lock);
}
