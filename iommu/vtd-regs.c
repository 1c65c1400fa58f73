/* vtd-regs.c: the VT-d capability and extended capability registers, field by field, as the
 * Intel VT-d specification lays them out, and the values derived from them (widths, page sizes). */
#include "iommu.h"

/* Deprecated and reserved bits are left out: they read as zero on current hardware and a name
 * for them would only invite misreading. */
static const struct vtd_field cap_fields[VTD_CAP__MAX] = {
	[VTD_CAP_ND] = { "ND", "Number of domains supported", 0, 3 },
	[VTD_CAP_AFL] = { "AFL", "Advanced fault logging", 3, 1 },
	[VTD_CAP_RWBF] = { "RWBF", "Required write-buffer flushing", 4, 1 },
	[VTD_CAP_PLMR] = { "PLMR", "Protected low-memory region", 5, 1 },
	[VTD_CAP_PHMR] = { "PHMR", "Protected high-memory region", 6, 1 },
	[VTD_CAP_CM] = { "CM", "Caching mode", 7, 1 },
	[VTD_CAP_SAGAW] = { "SAGAW", "Supported adjusted guest address widths", 8, 5 },
	[VTD_CAP_MGAW] = { "MGAW", "Maximum guest address width (minus one)", 16, 6 },
	[VTD_CAP_ZLR] = { "ZLR", "Zero-length read", 22, 1 },
	[VTD_CAP_FRO] = { "FRO", "Fault-recording register offset (16-byte units)", 24, 10 },
	[VTD_CAP_SLLPS] = { "SLLPS", "Second-level large page support", 34, 4 },
	[VTD_CAP_PSI] = { "PSI", "Page-selective invalidation", 39, 1 },
	[VTD_CAP_NFR] = { "NFR", "Number of fault-recording registers (minus one)", 40, 8 },
	[VTD_CAP_MAMV] = { "MAMV", "Maximum address mask value", 48, 6 },
	[VTD_CAP_DWD] = { "DWD", "Write draining", 54, 1 },
	[VTD_CAP_DRD] = { "DRD", "Read draining", 55, 1 },
	[VTD_CAP_FL1GP] = { "FL1GP", "First-level 1-GByte page support", 56, 1 },
	[VTD_CAP_PI] = { "PI", "Posted interrupts", 59, 1 },
	[VTD_CAP_FL5LP] = { "FL5LP", "First-level 5-level paging", 60, 1 },
	[VTD_CAP_ECMDS] = { "ECMDS", "Enhanced command support", 61, 1 },
	[VTD_CAP_ESIRTPS] = { "ESIRTPS", "Enhanced set interrupt remap table pointer", 62, 1 },
	[VTD_CAP_ESRTPS] = { "ESRTPS", "Enhanced set root table pointer", 63, 1 },
};

static const struct vtd_field ecap_fields[VTD_ECAP__MAX] = {
	[VTD_ECAP_C] = { "C", "Page-walk coherency", 0, 1 },
	[VTD_ECAP_QI] = { "QI", "Queued invalidation", 1, 1 },
	[VTD_ECAP_DT] = { "DT", "Device-TLB (ATS)", 2, 1 },
	[VTD_ECAP_IR] = { "IR", "Interrupt remapping", 3, 1 },
	[VTD_ECAP_EIM] = { "EIM", "Extended interrupt mode (x2APIC)", 4, 1 },
	[VTD_ECAP_PT] = { "PT", "Pass-through", 6, 1 },
	[VTD_ECAP_SC] = { "SC", "Snoop control", 7, 1 },
	[VTD_ECAP_IRO] = { "IRO", "IOTLB register offset (16-byte units)", 8, 10 },
	[VTD_ECAP_MHMV] = { "MHMV", "Maximum handle mask value", 20, 4 },
	[VTD_ECAP_MTS] = { "MTS", "Memory type support", 25, 1 },
	[VTD_ECAP_NEST] = { "NEST", "Nested translation", 26, 1 },
	[VTD_ECAP_PRS] = { "PRS", "Page request support", 29, 1 },
	[VTD_ECAP_ERS] = { "ERS", "Execute request support", 30, 1 },
	[VTD_ECAP_SRS] = { "SRS", "Supervisor request support", 31, 1 },
	[VTD_ECAP_NWFS] = { "NWFS", "No write flag support", 33, 1 },
	[VTD_ECAP_EAFS] = { "EAFS", "Extended accessed flag support", 34, 1 },
	[VTD_ECAP_PSS] = { "PSS", "PASID size supported (bits minus one)", 35, 5 },
	[VTD_ECAP_PASID] = { "PASID", "Process address space ID support", 40, 1 },
	[VTD_ECAP_DIT] = { "DIT", "Device-TLB invalidation throttle", 41, 1 },
	[VTD_ECAP_PDS] = { "PDS", "Page-request drain support", 42, 1 },
	[VTD_ECAP_SMTS] = { "SMTS", "Scalable-mode translation support", 43, 1 },
	[VTD_ECAP_VCS] = { "VCS", "Virtual command support", 44, 1 },
	[VTD_ECAP_SLADS] = { "SLADS", "Second-level accessed/dirty support", 45, 1 },
	[VTD_ECAP_SLTS] = { "SLTS", "Second-level translation support", 46, 1 },
	[VTD_ECAP_FLTS] = { "FLTS", "First-level translation support", 47, 1 },
	[VTD_ECAP_SMPWCS] = { "SMPWCS", "Scalable-mode page-walk coherency", 48, 1 },
	[VTD_ECAP_RPS] = { "RPS", "RID-PASID support", 49, 1 },
	[VTD_ECAP_PMS] = { "PMS", "Performance monitoring support", 51, 1 },
	[VTD_ECAP_ADMS] = { "ADMS", "Abort DMA mode support", 52, 1 },
	[VTD_ECAP_RPRIVS] = { "RPRIVS", "RID_PRIV support", 53, 1 },
};

const struct vtd_field *vtd_cap_fields(void)
{
	return cap_fields;
}

const struct vtd_field *vtd_ecap_fields(void)
{
	return ecap_fields;
}

uint64_t vtd_cap(uint64_t cap, enum vtd_cap_field f)
{
	return (unsigned)f < VTD_CAP__MAX ? vtd_field_get(cap, &cap_fields[f]) : 0;
}

uint64_t vtd_ecap(uint64_t ecap, enum vtd_ecap_field f)
{
	return (unsigned)f < VTD_ECAP__MAX ? vtd_field_get(ecap, &ecap_fields[f]) : 0;
}

uint64_t vtd_cap_domains(uint64_t cap)
{
	uint64_t nd = vtd_cap(cap, VTD_CAP_ND);
	return nd == 7 ? 0 : 1ull << (4 + 2 * nd);
}

unsigned vtd_cap_mgaw(uint64_t cap)
{
	return (unsigned)vtd_cap(cap, VTD_CAP_MGAW) + 1;
}

/* Each page-table level resolves 9 bits above the 12-bit page offset: 2 levels reach 30 bits. */
size_t vtd_cap_sagaw_widths(uint64_t cap, unsigned widths[5])
{
	uint64_t sagaw = vtd_cap(cap, VTD_CAP_SAGAW);
	size_t n = 0;

	for (unsigned i = 0; i < 5; i++)
		if (sagaw & (1u << i))
			widths[n++] = 30 + 9 * i;
	return n;
}

size_t vtd_cap_superpages(uint64_t cap, uint64_t sizes[4])
{
	uint64_t sllps = vtd_cap(cap, VTD_CAP_SLLPS);
	size_t n = 0;

	for (unsigned i = 0; i < 4; i++)
		if (sllps & (1u << i))
			sizes[n++] = 1ull << (21 + 9 * i);
	return n;
}
