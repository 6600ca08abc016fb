//! What the fake company holds: users, pipelines and stages, custom fields,
//! the tables of persons, deals and organizations, and a clock that never
//! goes backwards. Only the handler and `FakePipedrive` touch it.

use super::entities::Entity;
use super::errors::ApiError;
use super::render::View;
use super::routes::{Bucket, Budget, Limits};
use super::{BURST_WINDOW, DEFAULT_BURST, DEFAULT_DAILY_TOKENS};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything the fake company holds. Only the handler and `FakePipedrive`
/// touch it.
pub struct PipedriveState {
    pub(super) token: String,
    pub(super) clock: Clock,
    pub(super) users: Vec<User>,
    pub(super) pipelines: Vec<Pipeline>,
    pub(super) stages: Vec<Stage>,
    pub(super) person_fields: Vec<CustomField>,
    pub(super) deal_fields: Vec<CustomField>,
    pub(super) organization_fields: Vec<CustomField>,
    pub(super) persons: Table,
    pub(super) deals: Table,
    pub(super) organizations: Table,
    pub(super) notes: super::notes::Notes,
    pub(super) limits: Limits,
    pub(super) unknown_routes: Vec<String>,
    /// Person and deal lists leave `additional_data` out (the spec does not
    /// require it).
    pub(super) without_additional_data: bool,
    pub(super) next_option_id: i64,
    pub(super) field_code_seed: u64,
    /// Days the company's calendar runs ahead of the wall clock (for the
    /// daily budget).
    pub(super) days_ahead: i64,
    /// Saved filters (v1 filters), by id.
    pub(super) filters: BTreeMap<i64, SavedFilter>,
    /// The company's labels (`label_ids` options): entity, id, name.
    pub(super) labels: Vec<(Entity, i64, String)>,
}

/// Seconds since the epoch, by the wall clock.
pub(super) fn wall_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A saved filter: the records of `entity` whose fields (built-in by name,
/// custom by field code) equal every one of `conditions`.
pub(super) struct SavedFilter {
    pub(super) entity: Entity,
    pub(super) name: String,
    pub(super) conditions: Vec<(String, Value)>,
}

impl SavedFilter {
    pub(super) fn holds(&self, record: &Record) -> bool {
        self.conditions.iter().all(|(field, wanted)| {
            record
                .fields
                .get(field)
                .or_else(|| record.custom.get(field))
                == Some(wanted)
        })
    }
}

/// Whole-second wall clock that never goes backwards.
pub(super) struct Clock {
    pub(super) last: i64,
}

impl Clock {
    pub(super) fn now(&mut self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.last = self.last.max(real);
        self.last
    }
}

pub(super) struct User {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) created: i64,
}

pub(super) struct Pipeline {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) created: i64,
}

pub(super) struct Stage {
    pub(super) id: i64,
    pub(super) pipeline_id: i64,
    pub(super) order_nr: i64,
    pub(super) name: String,
    pub(super) created: i64,
}

pub(super) struct CustomField {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) field_type: String,
    /// `(id, label)` for enum and set fields.
    pub(super) options: Vec<(i64, String)>,
}

impl CustomField {
    pub(super) fn option_label(&self, id: &Value) -> Option<&str> {
        let id = id.as_i64()?;
        self.options
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, l)| l.as_str())
    }
}

/// One person or deal. `fields` holds every plain attribute in its v2 wire
/// form; ids, times, deletion and custom fields are kept apart because the
/// fake computes with them.
#[derive(Clone)]
pub(super) struct Record {
    pub(super) id: i64,
    pub(super) add_time: i64,
    pub(super) update_time: i64,
    pub(super) is_deleted: bool,
    pub(super) fields: Map<String, Value>,
    /// Only fields with a value; unset ones render as `null`.
    pub(super) custom: BTreeMap<String, Value>,
}

impl Record {
    pub(super) fn field_i64(&self, name: &str) -> Option<i64> {
        self.fields.get(name).and_then(Value::as_i64)
    }
}

pub(super) struct Table {
    pub(super) next_id: i64,
    pub(super) rows: BTreeMap<i64, Record>,
}

impl Table {
    pub(super) fn new() -> Table {
        Table {
            next_id: 1,
            rows: BTreeMap::new(),
        }
    }
}

impl PipedriveState {
    pub(super) fn new(token: &str) -> PipedriveState {
        let mut state = PipedriveState {
            token: token.to_string(),
            clock: Clock { last: 0 },
            users: Vec::new(),
            pipelines: Vec::new(),
            stages: Vec::new(),
            person_fields: Vec::new(),
            deal_fields: Vec::new(),
            organization_fields: Vec::new(),
            persons: Table::new(),
            deals: Table::new(),
            organizations: Table::new(),
            notes: super::notes::Notes::default(),
            limits: Limits {
                burst: Bucket::new(DEFAULT_BURST, BURST_WINDOW),
                rejected: 0,
                budget: Budget {
                    tokens: DEFAULT_DAILY_TOKENS,
                    day: 0,
                    spent: 0,
                    without_headers: false,
                },
            },
            unknown_routes: Vec::new(),
            without_additional_data: false,
            // Option ids start well away from 1 so that sending an option's
            // position instead of its id is caught.
            next_option_id: 101,
            field_code_seed: 0x5eed_c0de,
            days_ahead: 0,
            filters: BTreeMap::new(),
            labels: Vec::new(),
        };
        state.add_user("owner@example.com", "Owner");
        let pipeline = state.add_pipeline("Pipeline");
        for name in [
            "Qualified",
            "Contact Made",
            "Demo Scheduled",
            "Proposal Made",
            "Negotiations Started",
        ] {
            state.add_stage(pipeline, name);
        }
        state
    }

    /// The company's UTC day, as days since 1970-01-01: the wall clock's,
    /// moved on by `days_ahead`.
    pub(super) fn today(&self) -> i64 {
        crate::support::calendar::day_of(wall_secs()) + self.days_ahead
    }

    pub(super) fn add_user(&mut self, email: &str, name: &str) -> i64 {
        let created = self.clock.now();
        let id = self.users.len() as i64 + 1;
        self.users.push(User {
            id,
            name: name.to_string(),
            email: email.to_string(),
            created,
        });
        id
    }

    pub(super) fn add_pipeline(&mut self, name: &str) -> i64 {
        let created = self.clock.now();
        let id = self.pipelines.len() as i64 + 1;
        self.pipelines.push(Pipeline {
            id,
            name: name.to_string(),
            created,
        });
        id
    }

    pub(super) fn add_stage(&mut self, pipeline_id: i64, name: &str) -> i64 {
        assert!(
            self.pipelines.iter().any(|p| p.id == pipeline_id),
            "no pipeline {pipeline_id}"
        );
        let created = self.clock.now();
        let id = self.stages.len() as i64 + 1;
        let order_nr = self
            .stages
            .iter()
            .filter(|s| s.pipeline_id == pipeline_id)
            .count() as i64
            + 1;
        self.stages.push(Stage {
            id,
            pipeline_id,
            order_nr,
            name: name.to_string(),
            created,
        });
        id
    }

    pub(super) fn add_custom_field(
        &mut self,
        entity: Entity,
        name: &str,
        field_type: &str,
        options: &[&str],
    ) -> String {
        let code = self.next_field_code();
        let options = options
            .iter()
            .map(|label| {
                self.next_option_id += 1;
                (self.next_option_id - 1, label.to_string())
            })
            .collect();
        let field = CustomField {
            code: code.clone(),
            name: name.to_string(),
            field_type: field_type.to_string(),
            options,
        };
        self.custom_fields_mut(entity).push(field);
        code
    }

    /// A fresh 40-character lowercase hex key, like Pipedrive's field hashes.
    pub(super) fn next_field_code(&mut self) -> String {
        let mut code = String::new();
        while code.len() < 40 {
            // splitmix64
            self.field_code_seed = self.field_code_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.field_code_seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            code.push_str(&format!("{:016x}", z ^ (z >> 31)));
        }
        code.truncate(40);
        code
    }

    pub(super) fn custom_fields(&self, entity: Entity) -> &[CustomField] {
        match entity {
            Entity::Person => &self.person_fields,
            Entity::Deal => &self.deal_fields,
            Entity::Organization => &self.organization_fields,
        }
    }

    pub(super) fn custom_fields_mut(&mut self, entity: Entity) -> &mut Vec<CustomField> {
        match entity {
            Entity::Person => &mut self.person_fields,
            Entity::Deal => &mut self.deal_fields,
            Entity::Organization => &mut self.organization_fields,
        }
    }

    pub(super) fn table(&self, entity: Entity) -> &Table {
        match entity {
            Entity::Person => &self.persons,
            Entity::Deal => &self.deals,
            Entity::Organization => &self.organizations,
        }
    }

    pub(super) fn table_mut(&mut self, entity: Entity) -> &mut Table {
        match entity {
            Entity::Person => &mut self.persons,
            Entity::Deal => &mut self.deals,
            Entity::Organization => &mut self.organizations,
        }
    }

    /// A record that exists and is not deleted, or the API's 404.
    pub(super) fn live(&self, entity: Entity, id: i64) -> Result<&Record, ApiError> {
        self.table(entity)
            .rows
            .get(&id)
            .filter(|r| !r.is_deleted)
            .ok_or_else(ApiError::entity_not_found)
    }

    pub(super) fn stage(&self, id: i64) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    pub(super) fn first_stage(&self, pipeline_id: i64) -> Option<&Stage> {
        self.stages
            .iter()
            .filter(|s| s.pipeline_id == pipeline_id)
            .min_by_key(|s| s.order_nr)
    }

    pub(super) fn render_one(&self, entity: Entity, id: i64) -> Option<Value> {
        let record = self.table(entity).rows.get(&id)?;
        Some(self.render(entity, record, &View::default()))
    }

    pub(super) fn render_live(&self, entity: Entity) -> Vec<Value> {
        self.table(entity)
            .rows
            .values()
            .filter(|r| !r.is_deleted)
            .map(|r| self.render(entity, r, &View::default()))
            .collect()
    }
}
