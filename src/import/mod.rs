//! Importers that write mapping files from other service descriptions (`polygate import …`).

pub mod wsdl;
