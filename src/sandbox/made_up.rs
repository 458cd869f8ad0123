//! Customers the sandbox invents from their id, so any GUID can be read without seeding a store.
//!
//! The generator is a local splitmix64 rather than `fastrand`, so a customer never changes with a
//! dependency upgrade: `samples/customers.csv` holds rows that must equal these values exactly.
//! Each customer gets a country and then an address, phone, tax id and names that belong to it,
//! plus the two structures a careless client drops (providerCustomers, customerAssociations).

use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The provider instance every made-up customer has: the reseller's Microsoft CSP connection.
const MICROSOFT_INSTANCE: &str = "3f1c9a2e-5b7d-4e8a-9c61-0d2f4b8a7e15";
/// A second provider instance about a third of the customers also have.
const ACRONIS_INSTANCE: &str = "a7d45e10-2c3b-4f6e-8d91-5b0c7e2f3a48";

/// Everything that has to agree with a country.
struct Locale {
    country: &'static str,
    /// (city, state, zip template, landline template); `#` is a digit, `@` an upper-case letter,
    /// `%` a letter of the kind British postcodes end with.
    cities: &'static [(&'static str, &'static str, &'static str, &'static str)],
    streets: &'static [&'static str],
    /// `{s}` is the street, `{n}` the number.
    street_format: &'static str,
    /// Templates for addressLine2, with `#` digits.
    line2: &'static [&'static str],
    /// Mobile number template; a third of the contacts give one instead of the office line.
    mobile: &'static str,
    tax_id: &'static str,
    sectors: &'static [&'static str],
    suffixes: &'static [&'static str],
    first_names: &'static [&'static str],
    last_names: &'static [&'static str],
    tld: &'static str,
}

const LOCALES: &[Locale] = &[
    Locale {
        country: "PT",
        cities: &[
            ("Lisboa", "Lisboa", "1###-###", "+351 21# ### ###"),
            ("Porto", "Porto", "4###-###", "+351 22# ### ###"),
            ("Braga", "Braga", "47##-###", "+351 253 ### ###"),
            ("Coimbra", "Coimbra", "30##-###", "+351 239 ### ###"),
            ("Faro", "Faro", "80##-###", "+351 289 ### ###"),
        ],
        streets: &[
            "Avenida da República",
            "Rua 25 de Abril",
            "Rua do Comércio",
            "Avenida Dom João II",
            "Rua Direita",
            "Rua Nova",
        ],
        street_format: "{s}, {n}",
        line2: &["#.º Andar", "Loja #", "#.º Esq."],
        mobile: "+351 91# ### ###",
        tax_id: "PT5########",
        sectors: &[
            "Logística",
            "Consultoria",
            "Distribuição",
            "Tecnologia",
            "Serviços",
        ],
        suffixes: &["Lda", "S.A.", "Unipessoal Lda"],
        first_names: &[
            "João", "Ana", "Sofia", "Miguel", "Inês", "Rui", "Catarina", "Tiago", "Mariana",
            "Gonçalo",
        ],
        last_names: &[
            "Silva",
            "Ferreira",
            "Costa",
            "Santos",
            "Oliveira",
            "Rodrigues",
            "Martins",
            "Sousa",
            "Gomes",
            "Lopes",
        ],
        tld: "pt",
    },
    Locale {
        country: "ES",
        cities: &[
            ("Madrid", "Madrid", "28###", "+34 91# ### ###"),
            ("Barcelona", "Barcelona", "080##", "+34 93# ### ###"),
            ("Valencia", "Valencia", "46###", "+34 96# ### ###"),
            ("Sevilla", "Sevilla", "41###", "+34 95# ### ###"),
            ("Bilbao", "Bizkaia", "480##", "+34 94# ### ###"),
        ],
        streets: &[
            "Calle Mayor",
            "Avenida de la Constitución",
            "Calle Real",
            "Calle de San Juan",
            "Calle del Sol",
        ],
        street_format: "{s} {n}",
        line2: &["Planta #", "#.º B", "Oficina #"],
        mobile: "+34 6## ### ###",
        tax_id: "ESB########",
        sectors: &[
            "Logística",
            "Consultores",
            "Distribuciones",
            "Tecnología",
            "Servicios",
        ],
        suffixes: &["S.L.", "S.A."],
        first_names: &[
            "Javier",
            "Lucía",
            "Carmen",
            "Alejandro",
            "Pablo",
            "Elena",
            "Sergio",
            "Marta",
            "Raúl",
            "Nuria",
        ],
        last_names: &[
            "García",
            "Fernández",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Ruiz",
            "Díaz",
            "Moreno",
        ],
        tld: "es",
    },
    Locale {
        country: "DE",
        cities: &[
            ("Berlin", "Berlin", "10###", "+49 30 #######"),
            ("München", "Bayern", "80###", "+49 89 #######"),
            ("Hamburg", "Hamburg", "20###", "+49 40 #######"),
            ("Köln", "Nordrhein-Westfalen", "50###", "+49 221 #######"),
            ("Frankfurt am Main", "Hessen", "60###", "+49 69 #######"),
        ],
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Gartenstraße",
            "Schillerstraße",
            "Industriestraße",
        ],
        street_format: "{s} {n}",
        line2: &["#. OG", "Haus #", "Aufgang @"],
        mobile: "+49 15# ########",
        tax_id: "DE#########",
        sectors: &[
            "Logistik",
            "Beratung",
            "Handel",
            "Technik",
            "Dienstleistungen",
        ],
        suffixes: &["GmbH", "AG", "GmbH & Co. KG"],
        first_names: &[
            "Lukas",
            "Anna",
            "Jonas",
            "Lea",
            "Felix",
            "Hannah",
            "Maximilian",
            "Sophie",
            "Jürgen",
            "Katrin",
        ],
        last_names: &[
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Schäfer",
        ],
        tld: "de",
    },
    Locale {
        country: "FR",
        cities: &[
            ("Paris", "Île-de-France", "750##", "+33 1 ## ## ## ##"),
            ("Lyon", "Auvergne-Rhône-Alpes", "6900#", "+33 4 ## ## ## ##"),
            (
                "Marseille",
                "Provence-Alpes-Côte d'Azur",
                "130##",
                "+33 4 ## ## ## ##",
            ),
            ("Toulouse", "Occitanie", "310##", "+33 5 ## ## ## ##"),
            ("Nantes", "Pays de la Loire", "440##", "+33 2 ## ## ## ##"),
        ],
        streets: &[
            "rue de la République",
            "avenue Jean Jaurès",
            "rue Victor Hugo",
            "boulevard Pasteur",
            "rue de la Gare",
        ],
        street_format: "{n} {s}",
        line2: &["Bâtiment @", "#e étage", "Escalier @"],
        mobile: "+33 6 ## ## ## ##",
        tax_id: "FR###########",
        sectors: &[
            "Logistique",
            "Conseil",
            "Distribution",
            "Technologies",
            "Services",
        ],
        suffixes: &["SAS", "SARL", "S.A."],
        first_names: &[
            "Camille", "Julien", "Léa", "Thomas", "Chloé", "Nicolas", "Manon", "Antoine", "Élise",
            "Mathieu",
        ],
        last_names: &[
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau",
        ],
        tld: "fr",
    },
    Locale {
        country: "GB",
        cities: &[
            ("London", "Greater London", "EC#A #%%", "+44 20 #### ####"),
            (
                "Manchester",
                "Greater Manchester",
                "M# #%%",
                "+44 161 ### ####",
            ),
            ("Edinburgh", "Scotland", "EH# #%%", "+44 131 ### ####"),
            ("Bristol", "Bristol", "BS# #%%", "+44 117 ### ####"),
            ("Leeds", "West Yorkshire", "LS# #%%", "+44 113 ### ####"),
        ],
        streets: &[
            "High Street",
            "Station Road",
            "King Street",
            "Victoria Road",
            "Church Lane",
        ],
        street_format: "{n} {s}",
        line2: &["Unit #", "Floor #", "Suite #"],
        mobile: "+44 7### ######",
        tax_id: "GB#########",
        sectors: &[
            "Logistics",
            "Consulting",
            "Distribution",
            "Technology",
            "Services",
        ],
        suffixes: &["Ltd", "PLC", "Limited"],
        first_names: &[
            "Oliver",
            "Amelia",
            "Harry",
            "Isla",
            "George",
            "Emily",
            "Jack",
            "Charlotte",
            "James",
            "Grace",
        ],
        last_names: &[
            "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Davies", "Walker", "Wright",
            "Hughes",
        ],
        tld: "co.uk",
    },
    Locale {
        country: "US",
        cities: &[
            ("Seattle", "WA", "981##", "+1 206 ### ####"),
            ("Austin", "TX", "787##", "+1 512 ### ####"),
            ("Boston", "MA", "021##", "+1 617 ### ####"),
            ("Denver", "CO", "802##", "+1 303 ### ####"),
            ("Chicago", "IL", "606##", "+1 312 ### ####"),
        ],
        streets: &[
            "Main Street",
            "Pine Street",
            "Congress Avenue",
            "Market Street",
            "Elm Street",
        ],
        street_format: "{n} {s}",
        line2: &["Suite #00", "Floor #", "Building @"],
        mobile: "+1 4## ### ####",
        tax_id: "##-#######",
        sectors: &[
            "Logistics",
            "Consulting",
            "Distribution",
            "Technologies",
            "Services",
        ],
        suffixes: &["Inc.", "LLC", "Corp."],
        first_names: &[
            "Michael", "Jennifer", "David", "Sarah", "Robert", "Jessica", "Daniel", "Ashley",
            "Kevin", "Megan",
        ],
        last_names: &[
            "Johnson", "Williams", "Miller", "Davis", "Anderson", "Clark", "Lewis", "Young",
            "Hall", "Allen",
        ],
        tld: "com",
    },
];

/// Company name stems (Microsoft's fictitious companies, none of them a real customer).
const STEMS: &[&str] = &[
    "Northwind",
    "Fabrikam",
    "Tailspin",
    "Adatum",
    "Litware",
    "Proseware",
    "Woodgrove",
    "Wingtip",
    "Lucerne",
    "Coho",
    "Trey",
    "Alpine",
    "Fourth Coffee",
    "VanArsdel",
    "Wide World",
    "Blue Yonder",
];

const PARTNERS: &[&str] = &[
    "Iberia Cloud Partners",
    "Atlantic IT Services",
    "Nordic Managed Services",
    "Meridian Systems Integrator",
];

/// A splitmix64 stream: tiny, well mixed, and fixed forever.
struct Gen(u64);

impl Gen {
    fn new(id: Uuid) -> Gen {
        let (hi, lo) = id.as_u64_pair();
        Gen(hi ^ lo.rotate_left(29) ^ 0x0cc6_b01c_5a4d_b0e5)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is a table length, far below u64::MAX; the modulo bias is irrelevant here.
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Fills a template: `#` becomes a digit, `@` an upper-case letter, `%` one of the letters
    /// that end a British postcode.
    fn fill(&mut self, template: &str) -> String {
        template
            .chars()
            .map(|c| match c {
                '#' => char::from(b'0' + self.below(10) as u8),
                '@' => char::from(b'A' + self.below(26) as u8),
                '%' => char::from(self.pick(b"ABDEFGHJLNPQRSTUWXYZ")),
                other => other,
            })
            .collect()
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn date(&mut self) -> String {
        format!(
            "{}-{:02}-{:02}T{:02}:{:02}:00Z",
            2019 + self.below(6),
            1 + self.below(12),
            1 + self.below(28),
            7 + self.below(12),
            self.below(60)
        )
    }

    fn margin(&mut self) -> f64 {
        self.pick(&[0.0, 5.0, 7.5, 10.0, 12.5, 15.0, 18.0])
    }
}

/// Lower-case ASCII for e-mail addresses and domains: accents dropped, anything else removed.
fn ascii_fold(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => "a",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => "o",
            'ú' | 'ù' | 'û' | 'ü' => "u",
            'ç' => "c",
            'ñ' => "n",
            'ß' => "ss",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => continue,
        };
        out.push_str(folded);
    }
    out
}

/// The customer the sandbox returns for `id` until it is patched: a full CustomerViewModel whose
/// every value depends only on the id and passes `crate::customer::check`. (The parts are drawn
/// in a fixed order: changing it changes every made-up customer.)
pub fn made_up_customer(id: Uuid) -> Map<String, Value> {
    let mut g = Gen::new(id);
    let locale = &LOCALES[g.below(LOCALES.len())];
    let (city, state, zip, landline) = g.pick(locale.cities);
    let (first, middle, last) = person(&mut g, locale);
    let company = Company::made_up(&mut g, locale);
    let email = format!(
        "{}.{}@{}",
        ascii_fold(first),
        ascii_fold(last),
        company.domain
    );

    let street = locale
        .street_format
        .replace("{s}", g.pick(locale.streets))
        .replace("{n}", &(1 + g.below(240)).to_string());
    let line2_template = g.pick(locale.line2);
    let floor = (1 + g.below(9)).to_string();
    let line2 = g.fill(&line2_template.replace('#', &floor));

    let tax_id = g.fill(locale.tax_id);
    let zip = g.fill(zip);
    let phone = if g.below(3) == 0 {
        g.fill(locale.mobile)
    } else {
        g.fill(landline)
    };
    let internal = g.fill("CUST-#####");
    let providers = providers(&mut g, &company);
    let associations = associations(&mut g);

    let customer = json!({
        "id": id.to_string(),
        "companyName": company.name,
        "taxId": tax_id,
        "country": locale.country,
        "addressLine1": street,
        "addressLine2": line2,
        "city": city,
        "state": state,
        "zip": zip,
        "firstName": first,
        "middleName": middle,
        "lastName": last,
        "email": email,
        "phone": phone,
        "internalIdentifier": internal,
        "resellerId": null,
        "providerCustomers": providers,
        "customerAssociations": associations,
    });
    match customer {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The contact: first, middle (half the time, never the first name again) and last name.
fn person(g: &mut Gen, locale: &Locale) -> (&'static str, Option<&'static str>, &'static str) {
    let first = g.pick(locale.first_names);
    let last = g.pick(locale.last_names);
    let middle = if g.below(2) == 0 {
        let m = g.pick(locale.first_names);
        (m != first).then_some(m)
    } else {
        None
    };
    (first, middle, last)
}

/// A made-up company: its name and the words its domains are made from.
struct Company {
    stem: &'static str,
    sector: &'static str,
    name: String,
    /// The company's web domain, for the contact's e-mail address.
    domain: String,
}

impl Company {
    fn made_up(g: &mut Gen, locale: &Locale) -> Company {
        // Most companies carry a brand name; some a family name, as small firms often do.
        let stem = if g.below(4) == 0 {
            g.pick(locale.last_names)
        } else {
            g.pick(STEMS)
        };
        let sector = g.pick(locale.sectors);
        let suffix = g.pick(locale.suffixes);
        Company {
            stem,
            sector,
            name: format!("{stem} {sector} {suffix}"),
            domain: format!("{}-{}.{}", ascii_fold(stem), ascii_fold(sector), locale.tld),
        }
    }
}

/// The providerCustomers map: always Microsoft, a third of the customers also Acronis.
fn providers(g: &mut Gen, company: &Company) -> Map<String, Value> {
    let mut providers = Map::new();
    let tenant_id = g.uuid();
    let onmicrosoft = format!("{}{}", ascii_fold(company.stem), ascii_fold(company.sector));
    let ms_data = json!({
        "domain": format!("{onmicrosoft}.onmicrosoft.com"),
        "tenantId": tenant_id.to_string(),
        "companyName": company.name,
        "agreementAccepted": true,
        "agreementDate": g.date(),
    });
    providers.insert(
        MICROSOFT_INSTANCE.to_string(),
        json!({
            "providerInstanceId": MICROSOFT_INSTANCE,
            "providerCustomerId": tenant_id.to_string(),
            "providerCustomerData": ms_data.to_string(),
            "margin": g.margin(),
            "offerTypeMargins": {
                "License": g.margin(),
                "Azure": g.margin(),
                "Software": g.margin(),
            },
        }),
    );
    if g.below(3) == 0 {
        let tenant = g.fill("10#####");
        let data = json!({"tenantId": tenant, "datacenter": "eu2-cloud", "quotaGb": 500 + 100 * g.below(20)});
        providers.insert(
            ACRONIS_INSTANCE.to_string(),
            json!({
                "providerInstanceId": ACRONIS_INSTANCE,
                "providerCustomerId": tenant,
                "providerCustomerData": data.to_string(),
                "margin": g.margin(),
                "offerTypeMargins": {"Backup": g.margin()},
            }),
        );
    }
    providers
}

/// One or two customerAssociations.
fn associations(g: &mut Gen) -> Vec<Value> {
    let mut associations = Vec::new();
    for _ in 0..1 + g.below(2) {
        associations.push(json!({
            "partnerId": g.uuid().to_string(),
            "partnerName": g.pick(PARTNERS),
            "associationType": g.pick(&["Reseller", "IndirectProvider", "Referral"]),
            "createdAt": g.date(),
        }));
    }
    associations
}
