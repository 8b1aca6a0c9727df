"""refine-af's model side. TypeScript reaches it only through `refine_af.service`."""
